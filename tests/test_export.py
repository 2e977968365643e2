"""`dcgan export`: every format through the command, on tiny runs of every architecture (spectral norm and
EMA included), checked against the PyTorch generator; the hf folder read back by load_generator and by
the huggingface_hub mixin; refusals leave nothing behind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan import load_generator
from dcgan.card import PROVENANCE
from dcgan.cli.export import FORMATS as CLI_FORMATS
from dcgan.errors import CheckpointError
from dcgan.export import FILES, FORMATS
from dcgan.training.trainer import train
from factories import tiny_config

RUNS = {
    "dcgan": dict(),
    "dcgan-fc": dict(arch="dcgan-fc", size=32, channels=3),
    "mlp": dict(preset="fashion-mlp"),
    "spectral-ema": dict(spectral_norm=True, ema_half_life=64),
    "conditional": dict(conditional=True),  # class-conditional: G takes labels (circle, square, triangle)
}


def inputs(model, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Latents, and labels 0, 1, 2, 0, ... for a conditional model."""
    z = model.latents(batch, seed=seed)
    return (z, torch.arange(batch) % 3) if model.condition is not None else (z,)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One finished tiny run per architecture (2 epochs of 3 steps on synthetic shapes)."""
    out = {}
    for name, overrides in RUNS.items():
        overrides = dict(overrides)
        config = tiny_config(overrides.pop("preset", "fashion-dcgan"), **overrides)
        out[name] = train(config, tmp_path_factory.mktemp("export") / name, progress=False)
    return out


def export(cli, run: Path, fmt: str, out: Path, *extra: str) -> tuple[int, str, str]:
    return cli("export", str(run), "--format", fmt, "--out", str(out), *extra)


def test_the_command_offers_the_module_formats() -> None:
    assert set(CLI_FORMATS) == set(FORMATS) == set(FILES)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_onnx_matches_torch_at_any_batch_size(cli, runs: dict[str, Path], tmp_path: Path, name: str) -> None:
    import onnxruntime

    code, stdout, stderr = export(cli, runs[name], "onnx", tmp_path / "onnx")
    assert code == 0, stderr
    assert "generator.onnx" in stdout
    model = load_generator(runs[name])
    session = onnxruntime.InferenceSession(
        str(tmp_path / "onnx" / "generator.onnx"), providers=["CPUExecutionProvider"]
    )
    names = ["latents", "labels"] if name == "conditional" else ["latents"]
    assert [i.name for i in session.get_inputs()] == names
    for batch in (1, 5):
        xs = inputs(model, batch, seed=11)
        got = session.run(None, {n: x.numpy() for n, x in zip(names, xs)})[0]
        expected = model(*xs).numpy()
        assert got.shape == (batch, model.channels, model.size, model.size)
        assert np.abs(got - expected).max() <= 1e-5
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == ["README.md", "card.json", "generator.onnx"]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_torchscript_matches_torch_at_any_batch_size(cli, runs: dict[str, Path], tmp_path: Path, name: str) -> None:
    code, _, stderr = export(cli, runs[name], "torchscript", tmp_path / "ts")
    assert code == 0, stderr
    model = load_generator(runs[name])
    scripted = torch.jit.load(str(tmp_path / "ts" / "generator.pt"))
    assert not any("parametrizations" in k for k in scripted.state_dict())  # spectral norm never reaches G
    for batch in (1, 5):
        xs = inputs(model, batch, seed=3)
        with torch.no_grad():
            assert (scripted(*xs) - model(*xs)).abs().max() <= 1e-5


@pytest.mark.parametrize("name", sorted(RUNS))
def test_hf_folder_reads_back_bit_identically_through_load_generator_and_the_hub_mixin(
    cli, runs: dict[str, Path], tmp_path: Path, name: str
) -> None:
    from dcgan.hub import DcganGenerator

    out = tmp_path / "hf"
    code, _, stderr = export(cli, runs[name], "hf", out)
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "card.json", "config.json", "model.safetensors"]
    original = load_generator(runs[name]).sample(12, seed=5)
    assert torch.equal(load_generator(out).sample(12, seed=5), original)
    hub = DcganGenerator.from_pretrained(out)
    assert not hub.training
    assert torch.equal(hub.sample(12, seed=5), original)
    # save_pretrained writes the same layout: load_generator reads it back too.
    hub.save_pretrained(tmp_path / "resaved")
    assert torch.equal(load_generator(tmp_path / "resaved").sample(12, seed=5), original)
    # The generator alone: no discriminator, no optimiser state; a tool that needs D says so in one line.
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {k.split(".")[0] for k in f.keys()} == {"G"}
    with pytest.raises(CheckpointError, match="generator-only export has no discriminator"):
        load_generator(out).discriminator(torch.zeros(1, 1, 28, 28))
    card = json.loads((out / "card.json").read_text())
    assert card["conditional"] is (name == "conditional")
    if name == "conditional":  # the labels travel with the export, and their names with the card
        assert card["class_names"] == ["circle", "square", "triangle"] and card["inputs"] == ["latents", "labels"]
        assert json.loads((out / "config.json").read_text())["condition"]["names"] == card["class_names"]


def test_the_default_format_is_hf_with_a_model_card(cli, runs: dict[str, Path], tmp_path: Path) -> None:
    code, _, stderr = cli("export", str(runs["spectral-ema"]), "--out", str(tmp_path / "x"))
    assert code == 0, stderr
    card = json.loads((tmp_path / "x" / "card.json").read_text())
    readme = (tmp_path / "x" / "README.md").read_text()
    assert card["format"] == "hf" and card["provenance"] == PROVENANCE and PROVENANCE in readme
    assert card["steps"] == 6 and card["arch"] == "dcgan" and card["training"]["ema_half_life"] == 64
    assert card["metrics"]["during_training"]["last_losses"]["step"] == 6
    for section in ("## Metrics (measured)", "## How to load", "## Intended use", "## License"):
        assert section in readme


def test_safetensors_format_loads_with_load_generator(cli, runs: dict[str, Path], tmp_path: Path) -> None:
    code, _, stderr = export(cli, runs["mlp"], "safetensors", tmp_path / "st")
    assert code == 0, stderr
    back = load_generator(tmp_path / "st" / "generator.safetensors")
    assert back.config.arch == "mlp" and back.step == 6
    assert torch.equal(back.sample(7, seed=1), load_generator(runs["mlp"]).sample(7, seed=1))


def test_an_existing_out_is_refused_unless_force(cli, runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code, _, stderr = export(cli, runs["dcgan"], "hf", out)
    assert code == 2
    assert stderr.strip().splitlines()[-1].startswith("error: --out") and "--force" in stderr
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    code, _, stderr = export(cli, runs["dcgan"], "hf", out, "--force")
    assert code == 0, stderr
    assert (out / "model.safetensors").is_file() and not (out / "mine.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no temp folder left beside it


def test_a_bad_run_is_one_line_and_writes_nothing(cli, tmp_path: Path) -> None:
    (tmp_path / "notarun").mkdir()
    (tmp_path / "notarun" / "x.txt").write_text("x")
    (tmp_path / "model.pt").write_bytes(b"\x80\x04pickle")
    for run in (tmp_path / "missing", tmp_path / "notarun", tmp_path / "model.pt"):
        code, _, stderr = export(cli, run, "onnx", tmp_path / "out")
        assert code == 2
        lines = stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and str(run) in lines[-1] and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "notarun"]


def test_an_onnx_mismatch_fails_in_one_line_and_leaves_no_output(
    cli, runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dcgan.export

    monkeypatch.setattr(dcgan.export, "TOLERANCE", -1.0)  # any difference (even 0) is too large
    code, _, stderr = export(cli, runs["dcgan"], "onnx", tmp_path / "out")
    assert code == 2
    assert "differs from PyTorch" in stderr.strip().splitlines()[-1] and "nothing was exported" in stderr
    assert list(tmp_path.iterdir()) == []


def test_a_missing_extra_names_the_pip_command(
    cli, runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    code, _, stderr = export(cli, runs["dcgan"], "onnx", tmp_path / "out")
    assert code == 2
    assert stderr.strip() == (
        "error: --format onnx needs the onnxruntime package: pip install 'dcgan[export]' (or pip install onnx "
        "onnxruntime)"
    )
    assert not (tmp_path / "out").exists()


def test_the_hub_class_without_huggingface_hub_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from dcgan.errors import DcganError

    monkeypatch.delitem(sys.modules, "dcgan.hub", raising=False)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(DcganError, match=r"^dcgan.hub needs the huggingface_hub package: pip install 'dcgan\[hub\]'$"):
        importlib.import_module("dcgan.hub")


def test_the_hub_class_reads_only_local_export_folders(tmp_path: Path) -> None:
    from dcgan.errors import DcganError
    from dcgan.hub import DcganGenerator

    for where in ("someone/some-model", tmp_path):
        with pytest.raises(DcganError, match="not an exported dcgan folder"):
            DcganGenerator.from_pretrained(where)
