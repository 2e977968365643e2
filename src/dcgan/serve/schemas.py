"""The API's request and response bodies: types and ranges, checked by pydantic and shown by /docs.

Numbers are strict (a JSON integer, not "4", 4.0 or true) and unknown keys are refused, so a typo
("nums") is an error naming it instead of a silently ignored field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from . import limits

Seed = Field(0, ge=0, le=limits.MAX_SEED, strict=True, description="Same seed, same images.")
Format = Field("png", description="png: one PNG grid (image/png); json: a list of base64 PNGs, one per image.")
Class = Field(
    None,
    alias="class",
    description="Conditional models: the class name (GET /api/model lists them); omitted: a random class per image.",
)
Attributes = Field(
    None, description="Conditional models: attribute name -> true/false (GET /api/model lists them); others random."
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class GenerateRequest(Body):
    num: int = Field(16, ge=1, le=limits.MAX_NUM, strict=True, description="How many images.")
    seed: int = Seed
    class_: str | None = Class
    attributes: dict[str, bool] | None = Attributes
    format: Literal["png", "json"] = Format
    nrow: int | None = Field(
        None, ge=1, le=limits.MAX_NUM, strict=True, description="Images per row of the PNG grid (default: square)."
    )


class InterpolateRequest(Body):
    seed_a: int = Field(0, ge=0, le=limits.MAX_SEED, strict=True, description="The walk's first image: this seed's.")
    seed_b: int = Field(1, ge=0, le=limits.MAX_SEED, strict=True, description="The walk's last image: this seed's.")
    steps: int = Field(
        8, ge=2, le=limits.MAX_WALK_STEPS, strict=True, description="Frames, both ends included (a strip in the PNG)."
    )
    mode: Literal["slerp", "lerp"] | None = Field(
        None, description="slerp (great circle) or lerp (straight line); default: slerp for normal z, lerp for uniform."
    )
    class_: str | None = Class
    attributes: dict[str, bool] | None = Attributes
    format: Literal["png", "json"] = Format


class InpaintOptions(Body):
    steps: int = Field(
        limits.INPAINT_STEPS,
        ge=1,
        le=limits.MAX_INPAINT_STEPS,
        strict=True,
        description="Adam steps on the latents (more: a closer fit, slower).",
    )
    candidates: int = Field(
        limits.INPAINT_CANDIDATES,
        ge=1,
        le=limits.MAX_INPAINT_CANDIDATES,
        strict=True,
        description="Latents optimised together; answers are ranked best first.",
    )
    seed: int = Field(0, ge=0, le=limits.MAX_SEED, strict=True, description="Seed of the starting latents.")
    format: Literal["png", "json"] = Field(
        "png", description="png: the best completion (image/png); json: every candidate, the input and the mask."
    )


class InpaintJSON(InpaintOptions):
    image: str = Field(description="The image: a PNG/JPEG/BMP/WebP file, base64 (a data: URL prefix is allowed).")
    mask: str = Field(description="The mask: a PNG of the image's size, white = the hole to fill, base64.")


class Images(BaseModel):
    images: list[str] = Field(description="Base64 PNGs, each tagged as synthetic (PNG text chunks).")
    width: int
    height: int
    seed: int | None = None


class Completions(BaseModel):
    images: list[str] = Field(description="Base64 PNGs of the completions at the model's size, best first.")
    losses: list[float] = Field(description="The loss of each completion (contextual + prior), ascending.")
    target: str = Field(description="The uploaded image as the model sees it (cropped, resized), base64 PNG.")
    mask: str = Field(description="The hole at the model's size (white = filled), base64 PNG.")
    blend: str = Field(description="poisson (OpenCV) or feather: how the hole was blended in.")
    width: int
    height: int


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong with the request, in one line.")
