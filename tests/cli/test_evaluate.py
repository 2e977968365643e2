"""`dcgan evaluate` driven through the real command group."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def png_folder(path: Path, n: int, seed: int, side: int = 16, mode: str = "RGB") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (side, side, 3) if mode == "RGB" else (side, side)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path / f"img{i:03d}.png")
    return path


def one_line_error(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err  # notes may come before; the error is one line
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def test_real_fake_folders(cli, tmp_path: Path) -> None:
    real = png_folder(tmp_path / "real", 8, 0)
    fake = png_folder(tmp_path / "fake", 7, 1, mode="L")  # another tool's grayscale output
    out = tmp_path / "r.json"
    code, stdout, stderr = cli(
        "evaluate",
        "--real",
        str(real),
        "--fake",
        str(fake),
        "--metrics",
        "kid,pr",
        "--num",
        "6",
        "--json",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
    )
    assert code == 0, stderr
    assert "has no test split; evaluating against its train split" in stderr
    for word in ("kid", "precision", "recall", "6 generated vs 6 real", "inception-v3-tf-2048"):
        assert word in stdout, stdout
    result = json.loads(out.read_text())
    assert result["metrics"] == ["kid", "pr"] and result["num_real"] == result["num_fake"] == 6
    assert result["split"] == "train" and result["size"] == 16 and result["fake"] == str(fake)
    assert result["feature_network"].startswith("inception-v3-tf-2048") and "fid" not in result


def test_run_form_with_disc(cli, tiny_run: Path, tmp_path: Path) -> None:
    code, stdout, stderr = cli(
        "evaluate",
        str(tiny_run),
        "--metrics",
        "disc",
        "--num",
        "8",
        "--device",
        "cpu",
        "--no-progress",
        "--json",
        str(tmp_path / "d.json"),
    )
    assert code == 0, stderr
    assert "disc_accuracy" in stdout and "(step " in stdout
    result = json.loads((tmp_path / "d.json").read_text())
    assert 0.0 <= result["disc_accuracy"] <= 1.0 and result["disc_num_real"] == 8 and result["feature_network"] is None


def test_unknown_metric(cli, tmp_path: Path) -> None:
    code, _, err = cli("evaluate", "--real", "synthetic", "--fake", str(tmp_path), "--metrics", "fid,isc")
    one_line_error(code, err, "--metrics", "'isc'", "fid, kid, pr, disc, fid_fashion")


def test_empty_fake_folder(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = cli("evaluate", "--real", "synthetic", "--fake", str(tmp_path / "empty"), "--metrics", "kid")
    one_line_error(code, err, "--fake", "no readable images")


def test_empty_real_folder_names_real(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    fake = png_folder(tmp_path / "fake", 4, 0)
    code, _, err = cli(
        "evaluate", "--real", str(tmp_path / "empty"), "--fake", str(fake), "--metrics", "kid", "--no-progress"
    )
    one_line_error(code, err, "--real")


@pytest.mark.parametrize(
    "args,needle",
    [
        ((), "missing RUN"),
        (("--real", "synthetic"), "--real and --fake go together"),
        (("somerun", "--fake", "x"), "either RUN or --real/--fake"),
        (("--real", "synthetic", "--fake", "x", "--metrics", "disc"), "--metrics disc needs a trained discriminator"),
        (("--real", "synthetic", "--fake", "x", "--num", "2"), "--num"),
        (("--real", "synthetic", "--fake", "x", "--split", "val"), "--split"),
        (("no-such-run",), "no such run directory"),
    ],
)
def test_usage_errors(cli, args, needle, tmp_path: Path) -> None:
    fake = png_folder(tmp_path / "x", 2, 0)
    args = tuple(str(fake) if a == "x" else a for a in args)
    code, _, err = cli("evaluate", *args, "--no-progress")
    one_line_error(code, err, needle)


def test_importing_the_command_does_not_import_torch() -> None:
    code = "import sys, dcgan.cli.evaluate; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
