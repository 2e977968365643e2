"""Pretrained generators shipped inside the package: usable straight after `pip install`, offline.

    from dcgan import load_pretrained
    G = load_pretrained("fashion")      # a TrainedGenerator, like load_generator's
    images = G.sample(16, seed=0)

    dcgan generate --pretrained fashion --num 16 --grid grid.png

Each model is a folder under `dcgan/pretrained_files/` in the layout of `dcgan export --format hf`
(config.json, model.safetensors: the generator only, README.md and card.json: the model card with the
exact training command, seed, torch version, data checksum, steps, seconds and the measured FID).
`benchmarks/make_pretrained.py` builds it from a training run. Names are not paths: `load_generator`
takes paths only, so a folder that happens to be called like a model is never mistaken for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .errors import DcganError
from .generator import load_generator

if TYPE_CHECKING:  # pragma: no cover
    from .generator import TrainedGenerator

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained_files"
#: name -> its folder inside the package (the files listed in its card.json).
PRETRAINED: dict[str, Path] = {name: PRETRAINED_DIR / name for name in ("fashion", "fashion-cond")}


def pretrained_path(name: str) -> Path:
    """The folder of a shipped model, or one line naming the models there are."""
    if name not in PRETRAINED:
        raise DcganError(f"--pretrained: unknown model {name!r}; choose one of {', '.join(PRETRAINED)}")
    folder = PRETRAINED[name]
    if not (folder / "model.safetensors").is_file():
        raise DcganError(
            f"--pretrained {name}: its files are missing from this installation ({folder}); reinstall dcgan "
            "or rebuild them with benchmarks/make_pretrained.py"
        )
    return folder


def load_pretrained(name: str, device: str | torch.device = "cpu") -> TrainedGenerator:
    """The shipped generator `name` (see PRETRAINED), in eval mode on `device`."""
    return load_generator(pretrained_path(name), device)


def pretrained_card(name: str) -> dict[str, Any]:
    """The model card stored with a shipped model (card.json)."""
    return json.loads((pretrained_path(name) / "card.json").read_text(encoding="utf-8"))
