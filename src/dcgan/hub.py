"""The exported generator as a `huggingface_hub.PyTorchModelHubMixin` module (`pip install 'dcgan[hub]'`).

    from dcgan.hub import DcganGenerator
    G = DcganGenerator.from_pretrained("exports/fashion")   # a folder written by `dcgan export --format hf`
    images = G.sample(16, seed=0)                             # the same images as load_generator's

Only local folders are read (nothing is downloaded: `from_pretrained` of a path that is not a folder is
refused), with strict weight loading: every tensor must fit. `save_pretrained` writes the same folder
layout as `dcgan export --format hf` (weights with the dcgan metadata, config.json), so
`load_generator` reads it too. Nothing is ever uploaded by dcgan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .errors import DcganError
from .labels import Condition
from .models import build_models
from .sample import LatentStream, iter_images, sample_images

try:
    from huggingface_hub import PyTorchModelHubMixin
except ImportError:  # pragma: no cover - the extra is installed in the test environment
    raise DcganError("dcgan.hub needs the huggingface_hub package: pip install 'dcgan[hub]'") from None

HF_CONFIG = "config.json"


class DcganGenerator(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="dcgan",
    tags=["gan", "dcgan", "synthetic-images"],
    pipeline_tag="unconditional-image-generation",
):
    """A dcgan generator built from the arguments in an exported folder's config.json (the run's config,
    the image channels, the training step and, for a conditional model, its condition as
    `dcgan.labels.Condition.to_meta` writes it); its weights are `G`."""

    def __init__(
        self, train_config: dict[str, Any], channels: int, step: int = 0, condition: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.train_config = TrainConfig.from_dict(train_config, HF_CONFIG).validate()
        self.channels, self.step = int(channels), int(step)
        self.condition = Condition.from_meta(condition, HF_CONFIG) if condition is not None else None
        with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the caller's RNG alone
            self.G = build_models(self.train_config, self.channels, self.condition)[0].eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images for latents `z` (N, z_dim) (and a conditional model's labels): floats in [-1, 1], (N, C, H, W)."""
        if self.condition is None:
            return self.G(z.to(self.device)).float()
        y = self.condition.default_labels(len(z)) if labels is None else labels
        return self.G(z.to(self.device), self.condition.as_tensor(y).to(self.device)).float()

    def latents(self, num: int, seed: int = 0) -> torch.Tensor:
        """The latents `sample(num, seed)` uses: the same stream as dcgan's load_generator."""
        return LatentStream(self.train_config, seed).take(num, self.device)

    def sample(self, num: int, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
        """`num` images as uint8 (num, C, H, W) on the CPU; the same images for the same seed."""
        return sample_images(self.G, self.train_config, num, seed=seed, device=self.device, batch_size=batch_size)

    def batches(self, num: int, seed: int = 0, batch_size: int = 256):  # noqa: ANN201 - an iterator of tensors
        return iter_images(self.G, self.train_config, num, seed=seed, device=self.device, batch_size=batch_size)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> DcganGenerator:  # type: ignore[override]
        """Read a local exported folder (never the network); weights are loaded strictly."""
        folder = Path(pretrained_model_name_or_path)
        if not (folder / HF_CONFIG).is_file() or not (folder / "model.safetensors").is_file():
            raise DcganError(
                f"{folder}: not an exported dcgan folder (config.json and model.safetensors); write one with "
                "dcgan export RUN --format hf --out FOLDER"
            )
        kwargs.update(local_files_only=True)
        return super().from_pretrained(folder, **kwargs)

    @classmethod
    def _from_pretrained(cls, **kwargs: Any) -> DcganGenerator:
        kwargs["strict"] = True
        return super()._from_pretrained(**kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        """The weights in dcgan's generator-only format (load_generator reads the folder too)."""
        from safetensors.torch import save

        from .checkpoint import FORMAT
        from .export import generator_tensors
        from .generator import GENERATOR_ONLY

        header = {"format": FORMAT, "step": self.step, "epoch": 0, "images_seen": 0}
        header["extra"] = {"channels": self.channels, GENERATOR_ONLY: True}
        if self.condition is not None:
            header["extra"]["labels"] = self.condition.to_meta()
        meta = {"dcgan": json.dumps(header), "config": self.train_config.to_json()}
        (Path(save_directory) / "model.safetensors").write_bytes(save(generator_tensors(self.G), metadata=meta))
