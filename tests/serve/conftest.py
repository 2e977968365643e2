"""What the serve tests share: runs to serve, a real `dcgan serve` process on a free port, PNG helpers."""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from factories import varied_checkpoint


@pytest.fixture(scope="session")
def varied_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory holding tiny_run's networks with G's output layer x300: two steps of training leave
    every sample mid-grey, this makes seeds (and walk frames) differ visibly."""
    run = tmp_path_factory.mktemp("varied") / "run"
    varied_checkpoint(tiny_run, run)
    return run


@pytest.fixture(scope="session")
def conditional_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class-conditional run (synthetic shapes: circle, square, triangle), two steps, made through the trainer."""
    from dcgan.training.trainer import train
    from factories import tiny_config

    config = tiny_config(None, size=32, limit=32, epochs=1, snapshot_every=0, conditional=True)
    return train(config, tmp_path_factory.mktemp("conditional") / "run", progress=False)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def decode_b64(text: str) -> Image.Image:
    return decode(base64.b64decode(text.removeprefix("data:image/png;base64,")))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def png_file(size: tuple[int, int], color: tuple[int, int, int] | int = (200, 100, 50), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG")
    return buffer.getvalue()


def mask_file(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """A mask PNG of `size`, white (= hole) inside box (left, top, right, bottom)."""
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dcgan_command() -> list[str]:
    """The installed `dcgan` command (as a user runs it), or the module when it is not on PATH."""
    exe = shutil.which("dcgan")
    return [exe] if exe else [sys.executable, "-m", "dcgan"]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str, str]:
        """Send `sig` and wait: (exit status, stdout, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, self.log.read_text()


def start_server(run: Path, tmp: Path, *extra: str, timeout: float = 60) -> Server:
    """`dcgan serve RUN --port FREE` as a subprocess, returned once GET /api/model answers."""
    port = free_port()
    log = tmp / f"serve-{port}.stderr"
    process = subprocess.Popen(
        [*dcgan_command(), "serve", str(run), "--port", str(port), "--device", "cpu", *extra],
        stdout=subprocess.PIPE,
        stderr=open(log, "w"),
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dcgan serve ended with status {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{server.url}/api/model", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"dcgan serve did not answer within {timeout} s: {log.read_text()}")


@pytest.fixture(scope="module")
def served(varied_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `dcgan serve` of varied_run for the module; stopped with SIGTERM, which must end it cleanly."""
    server = start_server(varied_run, tmp_path_factory.mktemp("serve"))
    yield server
    code, out, err = server.stop()
    assert code == 0 and "Traceback" not in err, err
