"""evaluate_run / evaluate_sets / evaluate_during_training, end to end on tiny inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dcgan.config import TrainConfig
from dcgan.errors import DcganError
from dcgan.metrics import evaluate as ev


class TinyG(nn.Module):
    def __init__(self, z_dim: int = 100, channels: int = 1, side: int = 8) -> None:
        super().__init__()
        self.shape = (channels, side, side)
        self.fc = nn.Linear(z_dim, channels * side * side)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(z)).view(len(z), *self.shape)


def test_during_training_the_data_decides_the_default_metrics(make_store, cheap_networks, monkeypatch) -> None:
    # The default --eval-metrics: the fast domain FID alone on Fashion-MNIST, TF-Inception FID and KID elsewhere.
    monkeypatch.setattr(ev, "_WARNED", set())  # the few-samples note stays unsaid for the test that checks it
    fashion = make_store("fashion", n=40, kind="fashion-mnist", split="train")
    result = ev.evaluate_during_training(TinyG(), TrainConfig(), fashion, 16, "cpu", step=1, progress=False)
    assert result["fid_fashion"] >= 0 and "fid" not in result and "kid" not in result
    assert cheap_networks["inception"].images_seen == 0 and cheap_networks["fashion"].images_seen == 32
    folder = make_store("folder", n=40, kind="folder", split="train")
    result = ev.evaluate_during_training(TinyG(), TrainConfig(), folder, 16, "cpu", step=1, progress=False)
    assert {"fid", "kid"} <= set(result) and "fid_fashion" not in result


def test_during_training_reuses_reference_and_adds_domain_fid(make_store, cheap_networks, capsys) -> None:
    store = make_store(n=40, kind="fashion-mnist", split="train")
    g = TinyG().train()
    asked = TrainConfig(eval_metrics="fid,kid")  # (left to the data, Fashion-MNIST gets fid_fashion alone)
    first = ev.evaluate_during_training(g, asked, store, 16, "cpu", step=100, progress=False)
    assert {"fid", "kid", "kid_std", "fid_fashion"} <= set(first) and "precision" not in first
    assert first["step"] == 100 and first["num_real"] == 16 and first["num_fake"] == 16
    assert first["reference_cached"] is False and first["images_embedded"] == 64  # 16 + 16 per network
    assert g.training  # the caller's mode is kept
    assert "2048" in capsys.readouterr().err  # few samples: warned ...
    second = ev.evaluate_during_training(g, asked, store, 16, "cpu", step=200, progress=False)
    assert second["reference_cached"] is True and second["images_embedded"] == 32  # only the fakes
    assert cheap_networks["inception"].images_seen == 16 * 3
    assert second["fid"] == pytest.approx(first["fid"])  # same latents, same weights
    assert "2048" not in capsys.readouterr().err  # ... once per process
    assert second["warnings"]


def test_metric_planning() -> None:
    notes: list[str] = []
    assert ev.plan_metrics("fid", 100, True, notes) == ("fid", "kid", "fid_fashion")
    assert notes and "2048" in notes[0]
    assert ev.plan_metrics(("pr", "fid"), 5000, False, []) == ("fid", "pr")
    with pytest.raises(DcganError, match="--metrics: unknown metric 'fd'; choose from fid, kid, pr, disc, fid_fashion"):
        ev.plan_metrics("fid,fd", 100, False, [])
    with pytest.raises(DcganError, match="--num 3"):
        ev.plan_metrics("pr", 3, False, [])


def test_evaluate_run_end_to_end(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    r = ev.evaluate_run(tiny_run, metrics="kid,pr,disc,fid", num=6, device="cpu", json_path=out, progress=False)
    assert r["metrics"] == ["fid", "kid", "pr", "disc"]
    for key in (
        "fid",
        "kid",
        "kid_std",
        "precision",
        "recall",
        "disc_accuracy",
        "disc_precision",
        "disc_recall",
        "disc_f1",
    ):
        assert np.isfinite(r[key]), key
    assert r["num_real"] == r["num_fake"] == r["disc_num_real"] == 6
    assert r["split"] == "test" and r["data"] == "synthetic" and r["step"] >= 1
    assert r["checkpoint"].endswith(".safetensors") and "inception" in r["feature_network"]
    assert r["images_embedded"] == 12 and r["images_per_s"] > 0 and r["warnings"]
    saved = json.loads(out.read_text())
    assert saved["fid"] == r["fid"] and saved["num_fake"] == 6
    # The real side comes from the cache now (one FID is enough here: sqrtm of 2048x2048 takes ~12 s on CPU).
    again = ev.evaluate_run(tiny_run, metrics="kid", num=6, device="cpu", progress=False)
    assert again["reference_cached"] and again["images_embedded"] == 6 and again["kid"] == pytest.approx(r["kid"])


def test_evaluate_run_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(DcganError, match="no such run directory"):
        ev.evaluate_run(tmp_path / "nope", num=6, device="cpu", progress=False)


def test_write_json_is_atomic_and_names_the_flag(tmp_path: Path) -> None:
    out = ev.write_json({"fid": 1.5, "path": tmp_path}, tmp_path / "sub" / "r.json")
    assert json.loads(out.read_text()) == {"fid": 1.5, "path": str(tmp_path)}
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]  # no temp file left
    (tmp_path / "file").write_text("a file where the folder should be")
    with pytest.raises(DcganError, match=r"^--json .*: cannot write \(.*\); choose another path$"):
        ev.write_json({"fid": 1.5}, tmp_path / "file" / "r.json")
