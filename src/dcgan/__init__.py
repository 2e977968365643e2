"""dcgan: train DCGAN-family image generators on real image collections, and use them.

The Python API (the same code paths as the `dcgan` command)::

    from dcgan import load_generator, resolve_config, train

    config = resolve_config("fashion-best", epochs=1)   # a preset (see `dcgan presets`) plus overrides
    run = train(config, "runs/notebook")                # a run directory, as `dcgan train --out` writes
    G = load_generator(run)                             # its newest checkpoint (G_ema when kept)
    images = G.sample(16, seed=0)                       # uint8 (16, C, H, W)
    G = load_pretrained("fashion")                      # the generator shipped in the package

Names are imported on first use, so `import dcgan` (and `dcgan --help`) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "TrainConfig": "dcgan.config",
    "resolve_config": "dcgan.config",
    "PRESETS": "dcgan.config",
    "train": "dcgan.training.trainer",
    "load_generator": "dcgan.generator",
    "TrainedGenerator": "dcgan.generator",
    "load_pretrained": "dcgan.pretrained",
    "evaluate_run": "dcgan.metrics.evaluate",
    "evaluate_sets": "dcgan.metrics.evaluate",
    "open_store": "dcgan.data",
    "DcganError": "dcgan.errors",
}
__all__ = [
    "PRESETS",
    "DcganError",
    "TrainConfig",
    "TrainedGenerator",
    "evaluate_run",
    "evaluate_sets",
    "load_generator",
    "load_pretrained",
    "open_store",
    "resolve_config",
    "train",
]
assert set(__all__) == set(_API)

if TYPE_CHECKING:  # pragma: no cover
    from .config import PRESETS, TrainConfig, resolve_config
    from .data import open_store
    from .errors import DcganError
    from .generator import TrainedGenerator, load_generator
    from .metrics.evaluate import evaluate_run, evaluate_sets
    from .pretrained import load_pretrained
    from .training.trainer import train


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'dcgan' has no attribute {name!r}")
