"""The generator behind the server: sampling, walks and inpainting, one request at a time, as tagged PNGs.

The networks run under one lock. On a CPU, torch already spreads one forward pass over every core
(intra-op threads), so two requests at once would only split the cores between them; and the
inpainting's discriminator features are taken with a forward hook on the shared network, which two
threads must not install at once. Requests therefore queue for the lock in FastAPI's thread pool
while the event loop keeps answering (GET /api/model, the page) in the meantime.

Every PNG carries the provenance tags `dcgan generate` writes (PNG text chunks): synthetic, the
model's name (run and checkpoint file, never a local path), its step and the seed.
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..checkpoint import checkpoint_label
from ..data.base import SkipImage
from ..data.decode import PIL_FORMATS, decode_image
from ..errors import DcganError
from ..generator import NoDiscriminator, TrainedGenerator
from ..io import png_bytes
from ..latent import inverse, walks
from ..pixels import to_uint8
from . import limits
from .limits import Refused


@dataclass
class Inpainted:
    images: torch.Tensor  # uint8 (K, C, S, S): the completions, best first
    losses: list[float]  # ascending
    target: np.ndarray  # uint8 (C, S, S): the uploaded image as the model sees it
    hole: np.ndarray  # bool (S, S)
    blend: str


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, field: str) -> bytes:
    """Base64 (optionally a data: URL) -> bytes; a Refused naming `field` for anything else."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{field}: is not base64 (send the file's bytes base64-encoded)") from None


def open_upload(data: bytes, field: str, mode: str) -> Image.Image:
    """An uploaded image, decoded in `mode` after its declared size was checked (decompression bombs)."""
    if not data:
        raise Refused(f"{field}: the file is empty")
    try:
        with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as img:
            w, h = img.size
            if w * h > limits.MAX_IMAGE_PIXELS:
                raise Refused(f"{field}: {w}x{h} pixels, over the limit of {limits.MAX_IMAGE_PIXELS:,}", 413)
            return img.convert(mode)
    except Refused:
        raise
    except Image.DecompressionBombError:
        raise Refused(f"{field}: declares more pixels than the limit of {limits.MAX_IMAGE_PIXELS:,}", 413) from None
    except (OSError, ValueError, SyntaxError) as e:
        why = "" if isinstance(e, Image.UnidentifiedImageError) else f" ({str(e).splitlines()[0][:80]})"
        raise Refused(f"{field}: not a readable {'/'.join(PIL_FORMATS)} image{why}") from None


class Engine:
    def __init__(self, model: TrainedGenerator, card: dict[str, Any]) -> None:
        self.model = model
        self.card = card
        self.lock = threading.Lock()
        self.label = checkpoint_label(model.path)

    # ------------------------------------------------------------------------------------- what it takes
    @property
    def conditional(self) -> bool:
        return bool(getattr(self.model, "conditional", False))

    @property
    def can_inpaint(self) -> bool:
        """Inpainting needs the run's discriminator (a generator-only export has none)."""
        return not isinstance(self.model.discriminator, NoDiscriminator)

    def accepts(self) -> dict[str, Any]:
        m = self.model
        return {
            "size": m.size,
            "channels": m.channels,
            "z_dim": m.config.z_dim,
            "modes": list(walks.MODES),
            "default_mode": walks.default_mode(m),
            "inpaint": self.can_inpaint,
            "conditional": self.conditional,
            "class_names": list(getattr(m, "class_names", None) or []),
            "attribute_names": list(getattr(m, "attribute_names", None) or []),
            "limits": limits.as_dict(),
        }

    def labels(self, class_: str | None, attributes: dict[str, bool] | None, num: int, seed: int) -> Any:
        """A conditional model's labels for the class or attributes asked for (None: the model's defaults,
        those `dcgan generate` uses); a Refused for a class or attributes given to an unconditional model."""
        if not self.conditional:
            if class_ is not None or attributes:
                raise Refused("this model is not conditional: it takes no class or attributes (GET /api/model)")
            return None
        if class_ is None and not attributes:
            return None
        try:
            return self.model.labels_for(class_=class_, attributes=attributes or None, num=num, seed=seed)
        except DcganError as e:  # a name the model does not know: the message lists those it does
            raise Refused(str(e).removeprefix("--"), 400) from None

    def tags(self, seed: int, what: str) -> dict[str, str]:
        """The provenance tags of `dcgan generate`, for an image this server made."""
        m = self.model
        return {
            "Software": "dcgan",
            "dcgan:synthetic": "true",
            "dcgan:model": self.label,
            "dcgan:step": str(m.step),
            "dcgan:seed": str(seed),
            "Comment": f"Synthetic image ({what}) generated by dcgan from {self.label} (step {m.step}), seed {seed}",
        }

    def pngs(self, images: torch.Tensor | np.ndarray, seed: int, what: str) -> list[str]:
        """One base64 PNG per image, each tagged (with its index)."""
        return [
            b64(png_bytes(images[i : i + 1], dict(self.tags(seed, what), index=str(i)))) for i in range(len(images))
        ]

    def grid(self, images: torch.Tensor, seed: int, what: str, nrow: int | None = None) -> bytes:
        return png_bytes(images, self.tags(seed, what), nrow=nrow)

    # ------------------------------------------------------------------------------------- the work
    def generate(
        self, num: int, seed: int, class_: str | None = None, attributes: dict[str, bool] | None = None
    ) -> torch.Tensor:
        """uint8 (num, C, S, S): the images `dcgan generate --seed` makes (the labels' too, when conditional)."""
        with self.lock:
            labels = self.labels(class_, attributes, num, seed)
            return self.model.sample(num, seed=seed, batch_size=limits.MAX_NUM, labels=labels)

    def interpolate(
        self,
        seed_a: int,
        seed_b: int,
        steps: int,
        mode: str | None = None,
        class_: str | None = None,
        attributes: dict[str, bool] | None = None,
    ) -> torch.Tensor:
        """uint8 (steps, C, S, S): the walk from seed_a's image to seed_b's (dcgan.latent.walks)."""
        with self.lock:
            z = walks.walk_latents(self.model, [seed_a, seed_b], steps, mode)
            if not self.conditional:
                return walks.decode(self.model, z)
            # One label for the whole walk (seed_a's default one unless asked): the class stays, the latent moves.
            labels = self.labels(class_, attributes, 1, seed_a)
            if labels is None:
                labels = self.model.labels_for(num=1, seed=seed_a)
            return torch.cat([to_uint8(self.model(row, labels)).cpu() for row in z.split(1)])

    def inpaint(self, image: bytes, mask: bytes, steps: int, candidates: int, seed: int) -> Inpainted:
        """Fill the white part of `mask` in `image` (dcgan.latent.inverse.inpaint, as `dcgan inpaint`)."""
        m = self.model
        if not self.can_inpaint:
            raise Refused(
                "this model has no discriminator (a generator-only export), which inpainting needs; "
                "serve the run directory instead",
                400,
            )
        picture = open_upload(image, "image", "RGB")
        holes = open_upload(mask, "mask", "L")
        if holes.size != picture.size:
            (mw, mh), (w, h) = holes.size, picture.size
            raise Refused(f"mask: is {mw}x{mh}, the image is {w}x{h}; paint the mask at the image's size")
        try:
            pixels = decode_image(image, m.size, m.channels)
        except SkipImage as e:
            raise Refused(f"image: cannot be used ({e})") from None
        hole = inverse.convert_mask(np.asarray(holes) >= 128, m.size)
        try:
            inverse.check_mask(hole, "mask")
        except DcganError as e:
            raise Refused(str(e)) from None
        x = torch.from_numpy(pixels[None].copy())
        with self.lock:
            c = inverse.inpaint(m, x, hole[None], steps=steps, candidates=candidates, seed=seed)
        return Inpainted(c.images[0], [float(v) for v in c.losses[0]], pixels, hole, c.blend)
