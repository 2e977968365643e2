"""Shared fixtures. Every test uses a private cache directory, never the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["DCGAN_CACHE"] = str(tmp_path_factory.mktemp("dcgan-cache"))
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def cli():
    """Run the real `dcgan` command in-process: returns (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from dcgan.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        runner = CliRunner()
        try:
            result = runner.invoke(main, list(args), catch_exceptions=False)
        except SystemExit as e:  # our Group.main exits itself
            return int(e.code or 0), "", ""
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run (synthetic shapes, 32 px, two steps) made once through the trainer API; read it, never change it."""
    from dcgan.training.trainer import train
    from factories import tiny_config

    config = tiny_config(None, size=32, limit=32, epochs=1, snapshot_every=0)
    return train(config, tmp_path_factory.mktemp("eval") / "run", progress=False)
