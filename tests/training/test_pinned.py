"""Pinned results: fixed-seed CPU runs whose checkpoints and samples must stay bit-identical.

The hashes below were recorded with the code before the package's reorganisation into its
current layout (torch 2.13.0, CPU); any refactoring must keep them. Each recipe goes through the
installed command line (train, then generate) and covers a different path of the training step:
the S1 DCGAN with BCE, the S4 variant (uniform z, label smoothing, FC heads), the S5 MLP, and the
quality options (EMA, DiffAugment, spectral norm, hinge, R1, WGAN-GP, TTUR).

They pin the fp32, contiguous path (`--amp off --channels-last off`, the CPU default before bf16
became the default on CPUs with native bf16): bf16 results depend on the CPU's kernels, so they
are checked for determinism and exact resume instead (tests/training/test_train.py).

fp32 kernels differ between kinds of CPU (vendor, instruction set), so the pins are kept per kind
(`cpu_kind()`); a kind without pins checks that two runs agree bit for bit and prints its pins.
A deliberate change of the numbers (a new default, a different random stream) re-pins them:
run this file with DCGAN_REPIN=1 on each kind and paste the printed lines into PINS, saying why in the commit.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

COMMON = [
    "--data",
    "synthetic",
    "--limit",
    "48",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--g-channels",
    "8",
    "--d-channels",
    "8",
    "--mlp-hidden",
    "16",
    "--log-every",
    "1",
    "--sample-grid",
    "16",
    "--snapshot-every",
    "1",
    "--device",
    "cpu",
    "--amp",
    "off",
    "--channels-last",
    "off",
    "--seed",
    "3",
]
RECIPES = {
    "s1-dcgan": ["--preset", "fashion-dcgan"],
    "s4-variant": ["--preset", "celeba-variant", "--size", "32"],
    "s5-mlp": ["--preset", "fashion-mlp"],
    "quality": [
        "--preset",
        "fashion-dcgan",
        "--ema-half-life",
        "200",
        "--augment",
        "color,translation,cutout",
        "--spectral-norm",
        "--loss",
        "hinge",
        "--r1-gamma",
        "0.1",
        "--lr-g",
        "0.0001",
    ],
    "wgan-gp": [
        "--preset",
        "fashion-dcgan",
        "--loss",
        "wgan-gp",
        "--no-d-batchnorm",
        "--size",
        "32",
        "--channels",
        "3",
    ],
}
#: CPU kind -> recipe -> (sha256 of the checkpoint's tensors, sha256 of the sample grid). fp32 results are
#: exact on one kind of CPU, but oneDNN and MKL choose their kernels by vendor and instruction set, so the
#: low bits of the weights differ between kinds (the sample grids, rounded to uint8, agree so far).
PINS: dict[str, dict[str, tuple[str, str]]] = {
    "AuthenticAMD/avx512_bf16": {  # AMD EPYC with AVX-512 BF16 (the pins recorded before the reorganisation)
        "s1-dcgan": (
            "4a726a65df5307a16a0f9a02179336d8e213307e969550fdb68553fdb38ccba2",
            "a55318270a308bb9e13f4a2d3640c96d6a541536912a6078b7a60acfccfcd043",
        ),
        "s4-variant": (
            "be941ec622d2cae7b1e0ea74714366dc7964bf7aa14be313945e025cf021b792",
            "e9415a3ea43e60373bb518752eae4be966009246c039f62c30c58d1c0f2b1d24",
        ),
        "s5-mlp": (
            "7f87a7079873b9a852281136018f7e9a1996d1148e2474e662eecd135cf1c4e5",
            "864331bd0578b1274a5d36a1807d90e34a82d8113a9be403da1f11a95935461b",
        ),
        "quality": (
            "89131bd840153161203a9ccd7596d8e1aaaad79a3242f68123aba4879a8ff115",
            "801e641aa03beeafba3e677a6b094f4aacd9d767739a3647279963245a1ca330",
        ),
        "wgan-gp": (
            "cc9b4524fd18f300c0fcf7d5540b320794fc1ba913c6fa00e8fc441d7d66bb05",
            "9f58933de2567993ed576951b764443aa366b64296fe8a7dd5e3b44109a8f867",
        ),
    },
    "GenuineIntel/avx512": {  # Intel Xeon with AVX-512, no BF16 (recorded 2026-12-01 with the same code)
        "s1-dcgan": (
            "8d6a8ffec2e5744c72fa5d85d1c89fa0a3197a9285437d403d28c21bb53d3548",
            "a55318270a308bb9e13f4a2d3640c96d6a541536912a6078b7a60acfccfcd043",
        ),
        "s4-variant": (
            "26279ca857c878d81fe23474dc3758fbcf21b6bc583cf09d372a48ad1639ea88",
            "e9415a3ea43e60373bb518752eae4be966009246c039f62c30c58d1c0f2b1d24",
        ),
        "s5-mlp": (
            "523f76c4227c403a26cdb7abc7f22eaea579424ac9ee5bdb742ac875ba3bd5ab",
            "864331bd0578b1274a5d36a1807d90e34a82d8113a9be403da1f11a95935461b",
        ),
        "quality": (
            "3d9f486ac4c728b35dfd1f2fee447d15205a67b57708a844cb8dc8d905d52305",
            "801e641aa03beeafba3e677a6b094f4aacd9d767739a3647279963245a1ca330",
        ),
        "wgan-gp": (
            "bca3fcbce7354a0f32299f1ff828044f124368d45fb9d6d049622d6a82012399",
            "9f58933de2567993ed576951b764443aa366b64296fe8a7dd5e3b44109a8f867",
        ),
    },
}


def cpu_kind() -> str:
    """'vendor/instruction set' of this CPU, as the kernels are chosen: e.g. 'GenuineIntel/avx512'."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    vendor = next((line.split(":")[1].strip() for line in info.splitlines() if line.startswith("vendor_id")), "")
    flags = set(next((line.split(":")[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    isa = next((name for name, flag in ISAS if flag in flags), "other")
    return f"{vendor or 'unknown'}/{isa}"


ISAS = (("avx512_bf16", "avx512_bf16"), ("avx512_bf16", "amx_bf16"), ("avx512", "avx512f"), ("avx2", "avx2"))


def tensor_digest(path: Path) -> str:
    """sha256 over every tensor of a checkpoint, by name: the weights, optimiser states and RNG states."""
    h = hashlib.sha256()
    for name, t in sorted(load_file(str(path)).items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def pixel_digest(path: Path) -> str:
    return hashlib.sha256(np.asarray(Image.open(path)).tobytes()).hexdigest()


@pytest.mark.skipif(torch.__version__.split("+")[0] != "2.13.0", reason="pinned on torch 2.13.0 (CPU)")
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_fixed_seed_runs_stay_bit_identical(recipe: str, cli, tmp_path: Path) -> None:
    """The pins of this kind of CPU; on a kind without pins, two runs must agree bit for bit (and the
    line to pin them is printed)."""
    got = pinned_run(recipe, cli, tmp_path / "a")
    if os.environ.get("DCGAN_REPIN"):
        print(f'\n    "{recipe}": ("{got[0]}", "{got[1]}"),  # {cpu_kind()}')
        return
    pins = PINS.get(cpu_kind())
    if pins is None:
        again = pinned_run(recipe, cli, tmp_path / "b")
        print(f'no pins for {cpu_kind()}; to pin it: "{recipe}": ("{got[0]}", "{got[1]}")')
        assert got == again, f"{recipe}: two fixed-seed runs differ on {cpu_kind()}"
        return
    assert got == pins[recipe], f"{recipe}: the fixed-seed run changed on {cpu_kind()} (checkpoint tensors, grid)"


def pinned_run(recipe: str, cli, folder: Path) -> tuple[str, str]:
    """Train the recipe into folder/run, generate its grid; (tensor digest of the last checkpoint, grid digest)."""
    run = folder / "run"
    code, _, err = cli("train", *COMMON, *RECIPES[recipe], "--out", str(run), "--no-progress")
    assert code == 0, err
    ckpts = sorted((run / "checkpoints").glob("ckpt-*.safetensors"))
    assert ckpts[-1].name == "ckpt-000000006.safetensors"
    grid = folder / "grid.png"
    code, _, err = cli(
        "generate", str(run), "--num", "16", "--seed", "5", "--out", str(folder / "fakes"), "--grid", str(grid),
        "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    return tensor_digest(ckpts[-1]), pixel_digest(grid)
