"""A trained generator, ready to use from Python, the commands and the latent tools.

    from dcgan import load_generator
    G = load_generator("runs/fashion")      # a run directory (its newest checkpoint) or a checkpoint file
    images = G.sample(16, seed=0)           # uint8 (16, C, H, W) on the CPU, the same for the same seed

The generator is G_ema when the run kept one, else G; both networks are in eval mode.

A checkpoint is untrusted input: its config could describe networks of any size. The networks are
therefore first built on torch's meta device (shapes only, no memory), their size bounded and every
weight's key and shape compared with the file's tensors; only then are they allocated and loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoint import Checkpoint, check_shapes, checkpoint_label, read_checkpoint
from .config import TrainConfig
from .device import resolve_device
from .errors import CheckpointError, ConfigError, DcganError
from .labels import ATTRIBUTES, CLASS, Condition
from .models import build_models
from .sample import LatentStream, iter_images, sample_images

# Far above any network dcgan trains (S1's G has 3.6 M parameters) and below what would exhaust a
# machine's memory on a damaged or hostile config: 2**31 float32 parameters are 8 GiB.
MAX_PARAMETERS = 2**31
SAMPLING_PREFIXES = ("G", "G_ema", "D")  # the tensors load_generator needs (no optimiser state)
# A generator-only file (`dcgan export`, the pretrained models) marks itself in its metadata's extra; an
# exported folder holds it as model.safetensors beside config.json and its model card.
GENERATOR_ONLY = "generator_only"
EXPORTED_WEIGHTS = "model.safetensors"


class NoDiscriminator(nn.Module):
    """Stands in for D when a generator-only file was loaded: any use of it is one line saying why."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.message = (
            f"{path}: a generator-only export has no discriminator (projection, inpainting, the disc metric and "
            "D-feature smoothness need one); use the run directory or a training checkpoint"
        )

    def forward(self, *args: object) -> torch.Tensor:
        raise CheckpointError(self.message)

    def modules(self) -> Iterator[nn.Module]:
        raise CheckpointError(self.message)


def weights_path(path: str | Path) -> Path:
    """An exported folder (model.safetensors, no checkpoints/) -> its weights file; anything else unchanged."""
    p = Path(path)
    if p.is_dir() and (p / EXPORTED_WEIGHTS).is_file() and not (p / "checkpoints").exists():
        return p / EXPORTED_WEIGHTS
    return p


@dataclass
class TrainedGenerator:
    generator: nn.Module  # eval mode, on `device`
    # eval mode, on `device` (the S5 report and the latent tools use it); NoDiscriminator for a generator-only file
    discriminator: nn.Module
    config: TrainConfig  # the run's config
    channels: int
    step: int  # the training step of the checkpoint
    path: Path  # the checkpoint file
    device: torch.device

    @property
    def size(self) -> int:
        return self.config.size

    def latents(self, num: int, seed: int = 0) -> torch.Tensor:
        """The first `num` latents (num, z_dim) of the seed's stream, on the device: those `sample` uses."""
        return LatentStream(self.config, seed).take(num, self.device)

    @torch.no_grad()
    def __call__(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images for latents `z` (N, z_dim): floats in [-1, 1], (N, C, H, W), on the device.

        y: a conditional model's labels (see `sample`); None: the default labels of seed 0."""
        if self.condition is None:
            if y is not None:
                raise self._unconditional("y")
            return self.generator(z.to(self.device)).float()
        y = self._labels(y, len(z), 0)
        return self.generator(z.to(self.device), y.to(self.device)).float()

    def sample(
        self, num: int, seed: int = 0, batch_size: int = 256, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`num` images as uint8 (num, C, H, W) on the CPU; the same images for the same seed.

        labels (conditional models): int64 (num,) class indices, or float (num, A) attribute vectors in {-1, 1}
        (`labels_for` makes them from names); None: classes round-robin (image i gets class i mod K),
        attributes drawn from the training data's attribute rows with the seed."""
        labels = self._labels(labels, num, seed) if labels is not None else None
        return sample_images(
            self.generator, self.config, num, seed=seed, device=self.device, batch_size=batch_size, labels=labels
        )

    def batches(
        self, num: int, seed: int = 0, batch_size: int = 256, labels: torch.Tensor | None = None
    ) -> Iterator[torch.Tensor]:
        """The images of `sample(num, seed, labels=labels)`, as uint8 CPU batches of at most `batch_size`:
        memory stays bounded by the batch size however large `num` is."""
        labels = self._labels(labels, num, seed) if labels is not None else None
        return iter_images(
            self.generator, self.config, num, seed=seed, device=self.device, batch_size=batch_size, labels=labels
        )

    # Conditional models (docs/conditional.md): what G is conditioned on, and labels from names.
    @property
    def condition(self) -> Condition | None:
        """The classes or attributes G takes (with the training data's label distribution); None: unconditional."""
        return getattr(self.generator, "condition", None)

    @property
    def conditional(self) -> bool:
        return self.condition is not None

    @property
    def class_names(self) -> list[str] | None:
        c = self.condition
        return list(c.names) if c is not None and c.kind == CLASS else None

    @property
    def attribute_names(self) -> list[str] | None:
        c = self.condition
        return list(c.names) if c is not None and c.kind == ATTRIBUTES else None

    def labels_for(
        self,
        class_: str | int | None = None,
        attributes: str | dict[str, object] | None = None,
        num: int = 1,
        seed: int = 0,
    ) -> torch.Tensor:
        """Labels for `num` images: `class_` by name (case-insensitive) or index, or `attributes` as
        {"Smiling": 1, "Eyeglasses": 0} or "Smiling=1,Eyeglasses=0" (the others drawn from the training
        data's rows that agree); neither: the default labels of the seed. DcganError listing the valid
        names on a typo, and for an unconditional model."""
        if self.condition is None:
            raise self._unconditional("--class" if class_ is not None else "--attributes")
        return self.condition.labels_for(class_, attributes, num=num, seed=seed)

    def label_text(self, label: torch.Tensor) -> str:
        """One label as text: the class name, or 'Smiling=1,Male=0'."""
        if self.condition is None:
            raise self._unconditional("labels")
        return self.condition.label_text(label)

    def _unconditional(self, what: str) -> DcganError:
        return DcganError(
            f"{what}: {checkpoint_label(self.path)} is an unconditional model (trained without --conditional or "
            f"--attributes); it takes no labels, leave out {what}"
        )

    def _labels(self, labels: torch.Tensor | None, num: int, seed: int) -> torch.Tensor:
        """Checked labels for `num` images (None: the seed's defaults)."""
        c = self.condition
        if c is None:
            raise self._unconditional("labels")
        if labels is None:
            return c.default_labels(num, seed)
        y = c.as_tensor(labels)
        shape = (num,) if c.kind == CLASS else (num, c.size)
        if tuple(y.shape) != shape:
            raise DcganError(f"labels: expected shape {shape} for {num} images, got {tuple(y.shape)}")
        if c.kind == CLASS and len(y) and not (0 <= int(y.min()) and int(y.max()) < c.size):
            raise DcganError(f"labels: class indices must be in 0..{c.size - 1}")
        return y


def _expected_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _all_in_state_dict(module: nn.Module) -> bool:
    names = {n for n, _ in module.named_parameters()} | {n for n, _ in module.named_buffers()}
    return names <= set(module.state_dict())


def checkpoint_condition(ck: Checkpoint) -> Condition | None:
    """What a conditional run's networks take, as its checkpoint records it (None: unconditional)."""
    if not ck.config.is_conditional():
        return None
    return Condition.from_meta(ck.meta["extra"].get("labels"), ck.path)


def build_checked(ck: Checkpoint) -> tuple[nn.Module, nn.Module]:
    """(G, D) with the checkpoint's weights (G_ema's when saved), on the CPU, in eval mode.

    Built on the meta device first: a config claiming absurd sizes, or weights that do not fit it,
    are refused in one line before a single parameter is allocated."""
    channels = ck.channels
    try:
        with torch.device("meta"):
            g, d = build_models(ck.config, channels, checkpoint_condition(ck))
    except (RuntimeError, ValueError, OverflowError, TypeError, ConfigError) as e:
        raise CheckpointError(
            f"{ck.path}: its config describes networks that cannot be built ({str(e).splitlines()[0][:120]})"
        ) from e
    states = {"generator": ck.state("G_ema") or ck.state("G"), "discriminator": ck.state("D")}
    c = ck.config
    generator_only = ck.meta["extra"].get(GENERATOR_ONLY) is True
    nets = (("generator", g),) if generator_only else (("generator", g), ("discriminator", d))
    for what, net in nets:
        n = sum(p.numel() for p in net.parameters())
        if n > MAX_PARAMETERS:
            raise CheckpointError(
                f"{ck.path}: its config asks for a {what} of {n:,} parameters (arch {c.arch}, size {c.size}, "
                f"widths {c.g_channels}/{c.d_channels}, z_dim {c.z_dim}), over the {MAX_PARAMETERS:,} this loader "
                "allocates; the file is damaged or not a dcgan checkpoint"
            )
        check_shapes(_expected_shapes(net), states[what], what, ck.path)
    if not all(_all_in_state_dict(net) for net in (g, d)):
        # A buffer outside the state dict would stay uninitialised below: build for real instead.
        g, d = build_models(ck.config, channels, checkpoint_condition(ck))
        nets = (("generator", g),) if generator_only else (("generator", g), ("discriminator", d))
    if generator_only:
        d = NoDiscriminator(ck.path)
    for what, net in nets:
        if next(net.parameters()).is_meta:
            # Every parameter and buffer is in the state dict: allocating without initialising and
            # loading over it equals building, initialising and loading (and leaves torch's RNG alone).
            net.to_empty(device="cpu")
        try:
            net.load_state_dict(states[what])
        except RuntimeError as e:  # keys and shapes fit; a value that cannot be copied in (e.g. its dtype)
            raise CheckpointError(
                f"{ck.path}: the {what} in this checkpoint cannot be loaded ({str(e).splitlines()[0][:120]})"
            ) from e
    return g.eval(), d.eval()


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> TrainedGenerator:
    """Rebuild G (G_ema when saved) and D from a run directory or a checkpoint file, in eval mode.

    device: auto, cpu, cuda, cuda:N or a torch.device. Refuses pickles, damaged or hostile metadata,
    and checkpoints that do not fit the architecture with one-line errors (CheckpointError)."""
    dev = resolve_device(device)
    ck = read_checkpoint(weights_path(path), prefixes=SAMPLING_PREFIXES)
    g, d = build_checked(ck)
    return TrainedGenerator(g.to(dev), d.to(dev), ck.config, ck.channels, ck.step, ck.path, dev)
