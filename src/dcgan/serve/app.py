"""The FastAPI application: the page at /, the API under /api, its documentation at /docs.

    from dcgan.generator import load_generator
    from dcgan.serve.app import create_app
    app = create_app(load_generator("runs/fashion"), card)   # any ASGI server runs it; `dcgan serve` uses uvicorn

Every refused request is a 4xx whose body is {"error": "<one line>"}; the server keeps serving.
/docs is Swagger UI with its files served by this application (fastapi-offline ships them), so the
documentation works without internet; /openapi.json is the machine-readable form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ..errors import DcganError
from ..generator import TrainedGenerator
from ..io import png_bytes
from . import limits
from .engine import Engine, Inpainted, b64, unb64
from .limits import BodyLimit, Refused
from .schemas import (
    Completions,
    ErrorBody,
    GenerateRequest,
    Images,
    InpaintJSON,
    InpaintOptions,
    InterpolateRequest,
)

STATIC = Path(__file__).parent / "static"
# The page loads nothing from elsewhere; this header makes the browser hold it to that.
PAGE_POLICY = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; object-src 'none'"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": why}
    for code, why in (
        (400, "a value the model does not know (e.g. an unknown class)"),
        (413, "the body or an image is over the limits"),
        (422, "a field is missing, of the wrong type, out of range, or an image is unusable"),
    )
}
PNG_OR_JSON = {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body",)) or "body"


def validation_message(errors: list[Any]) -> str:
    """pydantic's errors as one line: `num: Input should be less than or equal to 64 (got 1000)`."""
    parts = []
    for e in errors[:3]:
        if e.get("type") == "json_invalid":
            parts.append(f"body: not valid JSON ({e.get('ctx', {}).get('error', 'cannot be parsed')})")
            continue
        got = ""
        if e.get("type") not in ("missing", "json_invalid") and "input" in e:
            shown = repr(e["input"])
            got = f" (got {shown[:40] + '...' if len(shown) > 40 else shown})"
        parts.append(f"{_field(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}{got}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def png(data: bytes, name: str) -> Response:
    return Response(data, media_type="image/png", headers={"Content-Disposition": f'inline; filename="{name}"'})


def create_app(generator: TrainedGenerator, card: dict[str, Any]) -> FastAPI:
    """The application serving `generator`; `card` (dcgan.card.model_card) is shown on the page and by /api/model."""
    engine = Engine(generator, jsonable_encoder(card))
    app = FastAPIOffline(
        title="dcgan",
        summary="Images from a trained dcgan generator: grids, latent walks and inpainting.",
        description="Every image this API returns is synthetic and tagged so in its PNG text chunks "
        "(`dcgan:synthetic`, `dcgan:model`, `dcgan:step`, `dcgan:seed`). Refused requests answer 4xx "
        'with `{"error": "..."}`.',
    )
    app.add_middleware(BodyLimit, max_bytes=limits.MAX_BODY_BYTES)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, e: RequestValidationError) -> JSONResponse:
        return error(422, validation_message(list(e.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, e: HTTPException) -> JSONResponse:
        return error(e.status_code, str(e.detail))

    @app.exception_handler(DcganError)
    async def refused(_request: Request, e: DcganError) -> JSONResponse:
        return error(getattr(e, "status", 400), str(e))

    @app.exception_handler(Exception)
    async def failed(_request: Request, e: Exception) -> JSONResponse:  # a bug: logged by the server, then answered
        return error(500, f"internal error ({type(e).__name__}); the server goes on serving")

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"})

    @app.get("/api/model", summary="The model card and what the model accepts")
    def model() -> dict[str, Any]:
        return {"card": engine.card, "accepts": engine.accepts()}

    @app.post(
        "/api/generate",
        summary="A grid of samples (PNG), or each sample as base64 PNG (format json)",
        response_model=Images,
        responses={200: PNG_OR_JSON, **ERRORS},
    )
    def generate(body: GenerateRequest) -> Response:
        images = engine.generate(body.num, body.seed, body.class_, body.attributes)
        if body.format == "json":
            pngs = engine.pngs(images, body.seed, "sample")
            return JSONResponse(
                Images(images=pngs, width=generator.size, height=generator.size, seed=body.seed).model_dump()
            )
        return png(engine.grid(images, body.seed, "grid", body.nrow), f"dcgan-seed{body.seed}.png")

    @app.post(
        "/api/interpolate",
        summary="A walk in latent space from seed_a's image to seed_b's: a PNG strip, or base64 PNGs (format json)",
        response_model=Images,
        responses={200: PNG_OR_JSON, **ERRORS},
    )
    def interpolate(body: InterpolateRequest) -> Response:
        frames = engine.interpolate(body.seed_a, body.seed_b, body.steps, body.mode, body.class_, body.attributes)
        what = f"walk from seed {body.seed_a} to seed {body.seed_b}"
        if body.format == "json":
            pngs = engine.pngs(frames, body.seed_a, what)
            return JSONResponse(
                Images(images=pngs, width=generator.size, height=generator.size, seed=body.seed_a).model_dump()
            )
        return png(
            engine.grid(frames, body.seed_a, what, nrow=len(frames)), f"dcgan-walk-{body.seed_a}-{body.seed_b}.png"
        )

    @app.post(
        "/api/inpaint",
        summary="Fill the white part of a mask in an image (multipart: image + mask files; or JSON with base64)",
        response_model=Completions,
        responses={200: PNG_OR_JSON, 415: {"model": ErrorBody, "description": "not multipart or JSON"}, **ERRORS},
        openapi_extra={"requestBody": inpaint_body()},
    )
    async def inpaint(request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            image, mask, options = await _multipart(request)
        elif kind == "application/json":
            try:
                body = InpaintJSON.model_validate_json(await request.body())
            except ValidationError as e:
                return error(422, validation_message(e.errors()))
            image, mask, options = unb64(body.image, "image"), unb64(body.mask, "mask"), body
        else:
            return error(415, "send multipart/form-data (files image and mask) or application/json (base64)")
        done = await run_in_threadpool(engine.inpaint, image, mask, options.steps, options.candidates, options.seed)
        if options.format == "json":
            return JSONResponse(_completions(engine, done, options.seed))
        return png(engine.grid(done.images[:1], options.seed, "inpainting"), f"dcgan-inpaint-seed{options.seed}.png")

    return app


def inpaint_body() -> dict[str, Any]:
    """The OpenAPI requestBody of /api/inpaint: its two forms."""
    options = InpaintOptions.model_json_schema()
    files = {name: {"type": "string", "format": "binary", "description": what} for name, what in _FILES}
    form = {**options, "properties": {**files, **options["properties"]}, "required": ["image", "mask"]}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": form},
            "application/json": {"schema": InpaintJSON.model_json_schema()},
        },
    }


_FILES = (("image", "A PNG/JPEG/BMP/WebP image."), ("mask", "A PNG of the image's size: white = the hole to fill."))


async def _multipart(request: Request) -> tuple[bytes, bytes, InpaintOptions]:
    """The two files and the options of a multipart /api/inpaint."""
    form = await request.form(max_files=2, max_fields=8, max_part_size=limits.MAX_BODY_BYTES)
    files: dict[str, bytes] = {}
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key in ("image", "mask"):
            if not isinstance(value, UploadFile):
                raise Refused(f"{key}: send it as a file (a multipart part with a filename)")
            files[key] = await value.read()
        else:
            fields[key] = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    for name, _ in _FILES:
        if name not in files:
            raise Refused(f"{name}: missing (send the image and its mask as files)")
    try:
        options = InpaintOptions.model_validate(fields)
    except ValidationError as e:
        raise Refused(validation_message(e.errors())) from None
    return files["image"], files["mask"], options


def _completions(engine: Engine, done: Inpainted, seed: int) -> dict[str, Any]:
    size = engine.model.size
    target = png_bytes(done.target[None])
    mask = png_bytes(done.hole[None, None].astype("uint8") * 255)
    return Completions(
        images=engine.pngs(done.images, seed, "inpainting"),
        losses=done.losses,
        target=b64(target),
        mask=b64(mask),
        blend=done.blend,
        width=size,
        height=size,
    ).model_dump()
