"""`dcgan serve` as a user runs it: a real uvicorn process on a free loopback port, requests over TCP,
and a clean end on SIGTERM and Ctrl+C; its refusals (port in use, not a run, host) as one line, exit 2."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import numpy as np
import pytest

from dcgan.generator import load_generator

from .conftest import Server, decode, decode_b64, free_port, mask_file, pixels, png_file, start_server


def one_line_error(outcome: tuple[int, str, str], *needles: str) -> str:
    code, _, err = outcome
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_the_command_serves_over_tcp_and_stops_cleanly_on_sigterm(served: Server, varied_run: Path) -> None:
    model = load_generator(varied_run)
    page = httpx.get(f"{served.url}/")
    assert page.status_code == 200 and "new-samples" in page.text
    r = httpx.post(f"{served.url}/api/generate", json={"num": 4, "seed": 11, "format": "json"}, timeout=30)
    got = np.stack([pixels(decode_b64(t)) for t in r.json()["images"]])
    assert np.array_equal(got, model.sample(4, seed=11).numpy()[:, 0])
    grid = httpx.post(f"{served.url}/api/generate", json={"num": 16, "seed": 11}, timeout=30)
    assert decode(grid.content).size == (138, 138) and decode(grid.content).text["dcgan:synthetic"] == "true"
    files = {
        "image": ("a.png", png_file((40, 40)), "image/png"),
        "mask": ("m.png", mask_file((40, 40), (8, 8, 24, 24))),
    }
    r = httpx.post(f"{served.url}/api/inpaint", files=files, data={"steps": "3"}, timeout=30)
    assert r.status_code == 200 and decode(r.content).size == (32, 32)
    # A body declaring more than the cap is answered at once, without being sent.
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"POST /api/inpaint HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n\r\nonly this")
        answer = b""
        while chunk := raw.recv(65536):  # the server closes the connection after its answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"too large" in answer
    assert httpx.get(f"{served.url}/api/model").status_code == 200  # and it goes on serving
    # (SIGTERM and the check of a clean end: the `served` fixture's teardown.)


def test_ctrl_c_stops_the_server_with_one_line_and_status_0(varied_run: Path, tmp_path: Path) -> None:
    server = start_server(varied_run, tmp_path)
    assert httpx.post(f"{server.url}/api/generate", json={"num": 1}, timeout=30).status_code == 200
    code, out, err = server.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err
    assert out.splitlines()[0].startswith(f"serving {varied_run} (step ") and out.splitlines()[-1] == "stopped (Ctrl+C)"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/api/model", timeout=2)


def test_a_port_in_use_is_one_line_naming_the_port(cli, varied_run: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        one_line_error(cli("serve", str(varied_run), "--port", str(port)), f"--port {port}", "already in use")


def test_a_folder_that_is_not_a_run_is_one_line(cli, tmp_path: Path) -> None:
    one_line_error(cli("serve", str(tmp_path), "--port", str(free_port())), str(tmp_path), "no checkpoints")
    one_line_error(cli("serve", str(tmp_path / "missing")), "missing")
    one_line_error(cli("serve"), "RUN", "--pretrained")


def test_hosts_loopback_by_default_and_warns_on_every_interface(cli, varied_run: Path) -> None:
    port = free_port()
    code, out, err = cli("serve", str(varied_run), "--port", str(port), "--dry-run")
    assert code == 0 and f"http://127.0.0.1:{port}/" in out and "warning" not in err, err
    code, out, err = cli("serve", str(varied_run), "--host", "0.0.0.0", "--port", str(port), "--dry-run")
    assert code == 0 and "warning: --host 0.0.0.0" in err and "no authentication" in err
    one_line_error(cli("serve", str(varied_run), "--host", "no-such-host.invalid", "--dry-run"), "--host")
