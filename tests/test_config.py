"""TrainConfig (dcgan.config): fields carry their help and allowed values, one validator names the
flag, one typed reader for files and checkpoints, presets and the one resume rule."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dcgan.config import (
    PRESETS,
    TrainConfig,
    flag_name,
    load_config_file,
    resolve_config,
    resume_config,
)
from dcgan.errors import ConfigError


@pytest.mark.parametrize("size", [100, 10, 50, 2000])
def test_impossible_sizes_are_refused_with_the_flag_named(size: int) -> None:
    with pytest.raises(ConfigError, match=f"--size {size}"):
        TrainConfig(size=size).validate()


def test_unknown_values_name_their_flag() -> None:
    with pytest.raises(ConfigError, match="--preset"):
        resolve_config("nope", {})
    with pytest.raises(ConfigError, match="--real-label"):
        resolve_config(None, {"real_label": 1.5})
    with pytest.raises(ConfigError, match="--batch-size"):
        resolve_config(None, {"batch_size": 0})


def test_flags_override_presets() -> None:
    cfg = resolve_config("celeba-dcgan", {"size": 32, "epochs": 1, "lr_d": 1e-4, "limit": None})
    assert (cfg.size, cfg.epochs, cfg.lr_d, cfg.batch_size) == (32, 1, 1e-4, 128)
    assert cfg.extra["preset"] == "celeba-dcgan"
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg
    # Keyword overrides are the same as a dict of them.
    assert resolve_config("celeba-dcgan", size=32, epochs=1, lr_d=1e-4) == cfg


def test_every_field_has_help_text_and_every_preset_key_is_a_field() -> None:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for f in dataclasses.fields(TrainConfig):
        assert len(f.metadata["help"]) > 8, f.name
    for preset, values in PRESETS.items():
        assert set(values) <= names, preset
        resolve_config(preset)  # every preset is valid as it stands


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("arch", "nope", "--arch: unknown architecture 'nope'; choose one of dcgan, dcgan-fc, mlp"),
        ("loss", "nope", "--loss: unknown loss 'nope'; choose one of bce, hinge, lsgan, wgan-gp"),
        ("z_dist", "cauchy", "--z-dist: unknown latent distribution 'cauchy'"),
        ("amp", "fp8", "--amp: unknown value 'fp8'; choose one of auto, off, bf16, fp16"),
        ("channels", 2, "--channels: must be 1 or 3, got 2"),
        ("log_every", 0, "--log-every: must be at least 1, got 0"),
        ("limit", 0, "--limit: must be at least 1, got 0"),
        ("ema_half_life", -1, "--ema-half-life: must be at least 0, got -1"),
        ("lr_g", 0.0, "--lr-g: must be positive, got 0.0"),
        ("eval_metrics", "fid,nope", "--eval-metrics: unknown metric 'nope'"),
        ("eval_metrics", "pr,fid", "--eval-metrics: the first metric picks the best checkpoint"),
    ],
)
def test_the_one_validator_names_the_flag_and_the_allowed_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        dataclasses.replace(TrainConfig(), **{field: value}).validate()
    assert str(e.value).startswith(message)


def test_values_read_from_files_are_type_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config: epochs = '5' is not a int"):
        TrainConfig.from_dict({"epochs": "5"})
    with pytest.raises(ConfigError, match="config: d_batchnorm = 1 is not a bool"):
        TrainConfig.from_dict({"d_batchnorm": 1})
    with pytest.raises(ConfigError, match="unknown keys colour"):
        TrainConfig.from_dict({"colour": "red"})
    assert TrainConfig.from_dict({"lr_g": 1, "limit": None}).lr_g == 1.0  # ints are accepted for floats
    cfg = tmp_path / "run.toml"
    cfg.write_text('preset = "fashion-best"\nepochs = 2\nlr_d = 1\n')
    preset, values = load_config_file(cfg)
    assert preset == "fashion-best" and values == {"epochs": 2, "lr_d": 1.0}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"batch_size": 1.5}))
    with pytest.raises(ConfigError, match=f"--config {bad}: batch_size = 1.5 is not a int"):
        load_config_file(bad)


def test_resume_keeps_the_recipe_and_takes_only_run_control_settings() -> None:
    saved = resolve_config("fashion-dcgan", epochs=2)
    same = resume_config(saved, {"epochs": 4, "device": "cpu", "size": 28, "loss": None}, preset="fashion-dcgan")
    assert (same.epochs, same.device) == (4, "cpu")
    assert dataclasses.replace(same, epochs=2, device=saved.device) == saved
    with pytest.raises(ConfigError, match="--resume continues the saved recipe; --size, --loss differ from it"):
        resume_config(saved, {"size": 32, "loss": "hinge", "epochs": 3})
    with pytest.raises(ConfigError, match="--preset differ"):
        resume_config(saved, {}, preset="fashion-best")


def test_train_help_shows_every_field_with_its_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dcgan", "train", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )
    text = " ".join(proc.stdout.split())
    for f in dataclasses.fields(TrainConfig):
        if f.name == "extra":
            continue
        assert flag_name(f.name) in text, f.name
    assert "EMA of G weights, half-life in images" in text and "--no-spectral-norm" in text
    assert "[dcgan|dcgan-fc|mlp]" in text


def test_the_evaluation_plan_follows_the_data_unless_given() -> None:
    default = TrainConfig()
    assert default.evaluation_plan(fashion=True) == (0, True, "fid_fashion")  # every grid, the domain FID
    assert default.evaluation_plan(fashion=False) == (0, False, "fid,kid")  # not unless asked
    asked = TrainConfig(eval_every=500)
    assert asked.evaluation_plan(fashion=True) == (500, False, "fid_fashion")
    assert asked.evaluation_plan(fashion=False) == (500, False, "fid,kid")
    assert TrainConfig(eval_every=0).evaluation_plan(fashion=True) == (0, False, "fid_fashion")
    assert TrainConfig(eval_metrics="kid").evaluation_plan(fashion=True) == (0, True, "kid")
