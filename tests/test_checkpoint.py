"""dcgan.checkpoint on real files: what a failed write says is safe, what reading checks, how a model is named."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
import torch

import dcgan.fsutil as fsutil
from dcgan.checkpoint import (
    checkpoint_label,
    checkpoint_name,
    list_checkpoints,
    read_checkpoint,
    save_checkpoint,
    write_checkpoint_file,
)
from dcgan.errors import CheckpointError
from dcgan.models import build_models
from factories import tiny_config


def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every atomic write fails as on a full disk, after its temp file was written."""

    def replace(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", replace)


def test_a_full_disk_before_the_first_checkpoint_says_none_was_written(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    full_disk(monkeypatch)
    with pytest.raises(CheckpointError) as info:
        write_checkpoint_file(folder / checkpoint_name(3), b"x" * 100)
    message = str(info.value)
    assert "disk is full" in message and "no checkpoint was written yet" in message
    assert "intact" not in message
    assert list(folder.iterdir()) == []  # the temp file is gone too


def test_a_full_disk_later_names_the_checkpoint_that_is_intact(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for step in (3, 6):
        (folder / checkpoint_name(step)).write_bytes(b"complete")
    (folder / f".{checkpoint_name(9)}.tmp-1").write_bytes(b"half")  # a killed writer's leftover is no checkpoint
    full_disk(monkeypatch)
    with pytest.raises(CheckpointError) as info:
        write_checkpoint_file(folder / checkpoint_name(9), b"x" * 100)
    message = str(info.value)
    assert "disk is full" in message and f"{checkpoint_name(6)} is intact" in message
    assert (folder / checkpoint_name(6)).read_bytes() == b"complete"
    assert not (folder / checkpoint_name(9)).exists()


def test_a_full_disk_during_save_checkpoint_of_a_new_run(tmp_path: Path, monkeypatch) -> None:
    config = tiny_config(size=28)
    g, d = build_models(config, 1)
    opt_g, opt_d = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    full_disk(monkeypatch)
    with pytest.raises(CheckpointError, match="no checkpoint was written yet"):
        save_checkpoint(
            tmp_path,
            config=config,
            generator=g,
            discriminator=d,
            opt_g=opt_g,
            opt_d=opt_d,
            step=1,
            epoch=0,
            images_seen=16,
            rng={"z": torch.Generator().get_state()},
            extra={"channels": 1},
        )
    assert list_checkpoints(tmp_path) == []
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == []


def test_reading_checks_the_header_and_loads_only_what_is_asked(tiny_run: Path) -> None:
    full = read_checkpoint(tiny_run)
    assert full.path == list_checkpoints(tiny_run)[-1]
    assert {k.split(".", 1)[0] for k in full.tensors} >= {"G", "D", "optG", "optD", "rng"}
    assert full.channels == full.meta["extra"]["channels"] and full.step == full.meta["step"]
    sampling = read_checkpoint(tiny_run, prefixes=("G", "D"))
    assert {k.split(".", 1)[0] for k in sampling.tensors} == {"G", "D"}
    assert all(torch.equal(sampling.tensors[k], full.tensors[k]) for k in sampling.tensors)
    # The optimiser state still reads back as torch's layout (what resume loads).
    state = full.optimizer_state("optG")
    assert set(state) == {"state", "param_groups"} and state["param_groups"][0]["params"]


def test_a_damaged_optimiser_state_is_one_line(tiny_run: Path, tmp_path: Path) -> None:
    ck = read_checkpoint(tiny_run)
    ck.meta["optD"]["scalars"] = {"not-an-id": 1.0}
    with pytest.raises(CheckpointError, match="optD"):
        ck.optimizer_state("optD")
    del ck.meta["optG"]
    with pytest.raises(CheckpointError, match="no optG"):
        ck.optimizer_state("optG")


def test_the_model_label_never_holds_an_absolute_path(tiny_run: Path, tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "fashion"
    shutil.copytree(tiny_run, run)
    ckpt = list_checkpoints(run)[-1]
    assert checkpoint_label(ckpt) == f"fashion/{ckpt.name}"
    monkeypatch.chdir(run / "checkpoints")
    assert checkpoint_label(Path(ckpt.name)) == f"fashion/{ckpt.name}"  # a relative path names the run too
    loose = tmp_path / "elsewhere" / "model.safetensors"
    loose.parent.mkdir()
    shutil.copy(ckpt, loose)
    assert checkpoint_label(loose) == "model.safetensors"
    # A run that is the home folder itself would name the user: only the file is named.
    monkeypatch.setenv("HOME", str(run))
    assert checkpoint_label(ckpt) == ckpt.name
    assert os.sep not in checkpoint_label(ckpt)
