"""The model card: facts from the checkpoint and config, metrics measured in the run (metrics.jsonl) or by
`dcgan evaluate --json`, the synthetic-image note; and its Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcgan import load_generator
from dcgan.card import INTENDED_USE, PROVENANCE, card_markdown, model_card, training_metrics
from dcgan.training.rundir import MetricsLog
from dcgan.training.trainer import train
from factories import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tiny_config(eval_every=3, eval_num=8, eval_metrics="fid_fashion", ema_half_life=32)
    return train(config, tmp_path_factory.mktemp("card") / "run", progress=False)


def test_the_card_of_a_run(run: Path) -> None:
    card = model_card(load_generator(run), run)
    json.dumps(card)  # serialisable as it is
    records = MetricsLog.read(run / "metrics.jsonl")
    assert card["steps"] == 6 and card["epochs"] == 2 and card["images_seen"] == 96
    assert (card["data"], card["image_size"], card["channels"], card["arch"]) == ("synthetic", 28, 1, "dcgan")
    assert card["preset"] == "fashion-dcgan" and card["training"]["ema_half_life"] == 32
    assert card["conditional"] is False and "class_names" not in card
    assert card["provenance"] == PROVENANCE and card["intended_use"] == INTENDED_USE and "MIT" in card["license"]
    assert len(card["data_sha256"]) == 64
    fid = [r["fid_fashion"] for r in records if "fid_fashion" in r]
    during = card["metrics"]["during_training"]
    assert during["fid_fashion"]["last"] == fid[-1] and during["fid_fashion"]["best"] == min(fid)
    assert during["last_losses"]["loss_d"] == [r for r in records if "loss_d" in r][-1]["loss_d"]


def test_an_evaluation_json_is_carried_and_shown(run: Path, tmp_path: Path) -> None:
    evaluation = {"fid": 123.456, "fid_fashion": 7.89, "num_fake": 1000, "num_real": 1000, "split": "test"}
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(evaluation))
    card = model_card(load_generator(run), run, evaluation=path)
    assert card["metrics"]["evaluation"] == evaluation
    text = card_markdown(card)
    assert "| evaluation | fid | 123.5 |" in text and "| evaluation | num_fake | 1000 |" in text
    for section in ("## Metrics (measured)", "## How it was trained", "## How to load", "## Intended use"):
        assert section in text
    assert PROVENANCE in text and text.startswith("---\nlicense: mit\n")


def test_only_lines_up_to_the_checkpoint_count() -> None:
    records = [{"step": 3, "fid": 50.0}, {"step": 6, "fid": 40.0}, {"step": 9, "fid": 30.0}]
    assert training_metrics(records, step=6)["fid"] == {"last": 40.0, "last_step": 6, "best": 40.0, "best_step": 6}
    assert training_metrics([], step=6) == {}


def test_without_a_run_nothing_is_invented(run: Path) -> None:
    card = model_card(load_generator(run))
    assert card["metrics"] == {}
    assert "No metric was measured." in card_markdown(card)
