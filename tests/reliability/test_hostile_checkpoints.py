"""A checkpoint is untrusted input: crafted or damaged files reach `dcgan generate` as one line naming
the file (exit 2, no traceback), and a header that claims huge networks is refused before anything
is allocated."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from dcgan.checkpoint import list_checkpoints
from dcgan.errors import CheckpointError
from dcgan.generator import load_generator


def parts(ckpt: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    """(the dcgan metadata, the config, the tensors) of a real checkpoint."""
    with safe_open(str(ckpt), framework="pt") as f:
        header = f.metadata()
        return json.loads(header["dcgan"]), json.loads(header["config"]), {k: f.get_tensor(k) for k in f.keys()}


def craft(path: Path, meta: Any, config: Any, tensors: dict[str, torch.Tensor]) -> Path:
    """A safetensors file with this metadata (dicts as JSON, strings as they are)."""
    header = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (("dcgan", meta), ("config", config))}
    save_file(tensors, str(path), metadata=header)
    return path


def one_line_error(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def real(tiny_run: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    return parts(list_checkpoints(tiny_run)[-1])


# `python -m dcgan ARGS` that writes, as it exits, its own peak RSS (VmHWM, KiB) to the file argv[1]. The
# child's rusage maxrss will not do: Linux carries the parent's high-water mark over the exec, so a child
# of a large test process would seem as large as that process.
MEASURED = """
import atexit, runpy, sys
def peak():
    status = open("/proc/self/status").read()
    open(out, "w").write(status.split("VmHWM:")[1].split()[0])
out = sys.argv[1]
atexit.register(peak)
sys.argv = ["dcgan", *sys.argv[2:]]
runpy.run_module("dcgan", run_name="__main__", alter_sys=True)
"""


def run_measured(args: list[str], cwd: Path) -> tuple[int, str, float, float]:
    """`python -m dcgan ARGS` in a child: (exit status, stderr, seconds, peak RSS in MiB of that child alone)."""
    err, hwm = cwd / "stderr.txt", cwd / "peak-kib.txt"
    start = time.monotonic()
    with open(err, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-c", MEASURED, str(hwm), *args], stdout=subprocess.DEVNULL, stderr=f, cwd=cwd
        )
    return proc.returncode, err.read_text(), time.monotonic() - start, int(hwm.read_text()) / 1024


def test_a_header_claiming_huge_networks_fails_fast_without_allocating(real, tmp_path: Path) -> None:
    meta, config, _ = real
    # Size 1024 at width 4096 (both allowed) would be terabytes of weights; the file holds a few bytes.
    hostile = craft(
        tmp_path / "huge.safetensors",
        meta,
        {**config, "size": 1024, "g_channels": 4096, "d_channels": 4096},
        {"G.x": torch.zeros(1), "D.x": torch.zeros(1)},
    )
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="parameters") as info:
        load_generator(hostile)
    assert time.perf_counter() - started < 2.0
    assert "huge.safetensors" in str(info.value)

    # Through the command: the whole process (torch's import included) stays small and quick.
    code, err, seconds, peak_mib = run_measured(
        ["generate", str(hostile), "--num", "4", "--out", str(tmp_path / "o")], tmp_path
    )
    one_line_error(code, err, "huge.safetensors", "parameters")
    assert peak_mib < 1024, peak_mib
    assert seconds < 60
    assert not (tmp_path / "o").exists()  # nothing written, not even the folder


def test_a_huge_latent_size_is_refused_too(real, tmp_path: Path, cli) -> None:
    meta, config, tensors = real
    bad = craft(tmp_path / "z.safetensors", meta, {**config, "z_dim": 10**12}, tensors)
    code, _, err = cli("generate", str(bad), "--num", "1", "--out", str(tmp_path / "o"))
    one_line_error(code, err, "z.safetensors")


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


# name: (how to damage (meta, config, tensors) -> (meta, config, tensors), words the error must hold)
Damage = Callable[[dict, dict, dict], tuple[Any, Any, dict]]
CASES: dict[str, tuple[Damage, tuple[str, ...]]] = {
    "step is text": (lambda m, c, t: ({**m, "step": "abc"}, c, t), ("step",)),
    "step is a float": (lambda m, c, t: ({**m, "step": 3.5}, c, t), ("step",)),
    "step is negative": (lambda m, c, t: ({**m, "step": -1}, c, t), ("step",)),
    "epoch is a bool": (lambda m, c, t: ({**m, "epoch": True}, c, t), ("epoch",)),
    "no step": (lambda m, c, t: (_without(m, "step"), c, t), ("no step",)),
    "no extra": (lambda m, c, t: (_without(m, "extra"), c, t), ("no extra",)),
    "extra is a list": (lambda m, c, t: ({**m, "extra": [1, 2]}, c, t), ("extra",)),
    "channels is text": (lambda m, c, t: ({**m, "extra": {**m["extra"], "channels": "3"}}, c, t), ("channels",)),
    "channels is 7": (
        lambda m, c, t: ({**m, "extra": {**m["extra"], "channels": 7}}, {**c, "channels": None}, t),
        ("channel",),
    ),
    "no channels anywhere": (
        lambda m, c, t: ({**m, "extra": _without(m["extra"], "channels")}, {**c, "channels": None}, t),
        ("channel",),
    ),
    "optimiser state is a number": (lambda m, c, t: ({**m, "optG": 5}, c, t), ("optG",)),
    "no format": (lambda m, c, t: (_without(m, "format"), c, t), ("unsupported checkpoint format",)),
    "metadata is a list": (lambda m, c, t: ("[1, 2]", c, t), ("not an object",)),
    "metadata is not JSON": (lambda m, c, t: ("{step: 1", c, t), ("damaged",)),
    "config is a string": (lambda m, c, t: (m, '"fashion"', t), ("not an object",)),
    "config has a text size": (lambda m, c, t: (m, {**c, "size": "big"}, t), ("size",)),
    "config size out of range": (lambda m, c, t: (m, {**c, "size": 5000}, t), ("--size 5000",)),
    "config has unknown keys": (lambda m, c, t: (m, {**c, "evil": 1}, t), ("evil",)),
    "config has a bad loss": (lambda m, c, t: (m, {**c, "loss": "__import__"}, t), ("loss",)),
    "generator weights missing": (
        lambda m, c, t: (m, c, {k: v for k, v in t.items() if not k.startswith("G")}),
        ("does not fit", "missing"),
    ),
    "an unexpected weight": (lambda m, c, t: (m, c, {**t, "D.extra.weight": torch.zeros(2)}), ("unexpected",)),
    "a weight of the wrong shape": (
        lambda m, c, t: (m, c, {**t, next(k for k in t if k.startswith("G.")): torch.zeros(3, 3)}),
        ("does not fit", "shape"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_metadata_is_one_line_naming_the_file(case: str, real, tmp_path: Path, cli) -> None:
    damage, needles = CASES[case]
    meta, config, tensors = damage(*real)
    bad = craft(tmp_path / "bad.safetensors", meta, config, tensors)
    code, _, err = cli("generate", str(bad), "--num", "2", "--out", str(tmp_path / "o"), "--no-progress")
    one_line_error(code, err, "bad.safetensors", *needles)
    assert not (tmp_path / "o").exists()


def test_truncated_and_empty_files(tiny_run: Path, tmp_path: Path) -> None:
    data = list_checkpoints(tiny_run)[-1].read_bytes()
    for name, blob in (
        ("cut.safetensors", data[: len(data) // 2]),
        ("head.safetensors", data[:5]),
        ("empty.safetensors", b""),
    ):
        (tmp_path / name).write_bytes(blob)
        code, err, _, _ = run_measured(
            ["generate", str(tmp_path / name), "--num", "1", "--out", str(tmp_path / "o")], tmp_path
        )
        one_line_error(code, err, name, "not a readable dcgan checkpoint")


def test_a_header_size_beyond_the_file_is_refused(tmp_path: Path, cli) -> None:
    # The first 8 bytes give the JSON header's length: claim 2**40 bytes in a 20-byte file.
    (tmp_path / "liar.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{}" + b" " * 10)
    code, _, err = cli("generate", str(tmp_path / "liar.safetensors"), "--num", "1", "--out", str(tmp_path / "o"))
    one_line_error(code, err, "liar.safetensors")
