"""`dcgan serve`: a web page and an HTTP API for a trained generator (dcgan.serve), run by uvicorn.

The port is bound here, before uvicorn starts, so a port in use or a host that is not this machine's
is one line naming the flag. Ctrl+C or SIGTERM stops the server gracefully (requests in flight are
answered) and the command ends with status 0 and one line, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..errors import DcganError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or a one-line DcganError naming --host or --port."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError, ValueError) as e:
        why = getattr(e, "strerror", None) or str(e)
        raise DcganError(f"--host {host}: not a name or address this machine can listen on ({why})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a port in TIME_WAIT is free
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise DcganError(
                f"--port {port}: already in use on {host}; stop what uses it or choose another --port"
            ) from None
        if e.errno == errno.EACCES:
            raise DcganError(
                f"--port {port}: permission denied (ports below 1024 need root); choose another --port"
            ) from None
        raise DcganError(f"--host {host}: cannot listen there ({e.strerror or e}); use 127.0.0.1") from None
    return sock


def is_loopback(sock: socket.socket) -> bool:
    return ipaddress.ip_address(sock.getsockname()[0]).is_loopback


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ipaddress.ip_address(host).is_unspecified:  # 0.0.0.0 or :: : this machine answers on 127.0.0.1 too
        host = "127.0.0.1" if sock.family == socket.AF_INET else "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def run_dir_of(run: str) -> Path | None:
    """The run directory behind RUN (a run directory, or a checkpoint file inside one), if any."""
    path = Path(run)
    if path.is_dir():
        return path
    if path.parent.name == "checkpoints":
        return path.parent.parent
    return None


class PretrainedName(click.Choice):
    """click.Choice over the shipped models' names, read when first needed: dcgan.pretrained imports torch,
    which `dcgan --help` must not."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from ..pretrained import PRETRAINED

        return tuple(PRETRAINED)

    @choices.setter
    def choices(self, _value: object) -> None:
        pass


@click.command()
@click.argument("run", type=click.Path(), required=False)
@click.option(
    "--pretrained", type=PretrainedName(), default=None, help="Serve a model shipped with dcgan instead of RUN."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every network).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port to listen on.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--dry-run", is_flag=True, help="Load the model and bind the port, then exit without serving.")
def serve(run: str | None, pretrained: str | None, host: str, port: int, device: str, dry_run: bool) -> None:
    """Serve RUN (a run directory or a checkpoint file), or a --pretrained model, as a web page and an HTTP API."""
    if (run is None) == (pretrained is None):
        raise click.UsageError(
            "give RUN (a run directory or a checkpoint file) or --pretrained NAME (exactly one of them)"
        )
    if run is not None and not run.strip():
        raise click.BadParameter("give a run directory or a checkpoint file", param_hint="RUN")
    if not host.strip():
        raise click.BadParameter("give an address, e.g. 127.0.0.1", param_hint="--host")

    from ..card import model_card
    from ..device import resolve_device, use_all_cores
    from ..generator import load_generator
    from ..pretrained import load_pretrained

    dev = resolve_device(device)
    if pretrained is not None:
        model, name, run_dir = load_pretrained(pretrained, dev), f"the pretrained model {pretrained}", None
    else:
        model, name, run_dir = load_generator(run, dev), run, run_dir_of(run)
    card = model_card(model, run_dir)
    sock = bind(host, port)
    try:
        if not is_loopback(sock):
            click.echo(
                f"warning: --host {host}: other machines can reach this server, and it has no authentication; "
                "anyone who reaches the port can use the model (use 127.0.0.1 to keep it to this machine)",
                err=True,
            )
        what = f"{name} (step {model.step}, {model.size} px, {dev})"
        if dry_run:
            click.echo(f"would serve {what} at {url(sock)} (dry run: nothing served)")
            return
        use_all_cores(dev)
        from ..serve.app import create_app

        app = create_app(model, card)
        click.echo(f"serving {what} at {url(sock)}  (API documentation: {url(sock)}docs; Ctrl+C stops)")
        sys.stdout.flush()
        stopped_by = _run(app, sock)
    finally:
        sock.close()
    click.echo(f"stopped ({stopped_by})" if stopped_by else "stopped")


def _run(app: Any, sock: socket.socket) -> str | None:
    """Serve until Ctrl+C or SIGTERM; the name of the signal that stopped it."""
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but a signal ends the command normally instead of being raised again afterwards."""

        stopped_by: str | None = None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.stopped_by = "Ctrl+C" if sig == signal.SIGINT else signal.Signals(sig).name
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=10, server_header=False
    )
    server = Server(config)
    server.run(sockets=[sock])
    return server.stopped_by
