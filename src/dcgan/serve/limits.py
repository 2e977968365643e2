"""What one request may ask for, and the guard that refuses an oversized body before reading it.

Every bound is here, so the API's documentation, the page and the tests read the same numbers. The
networks run one request at a time (see engine.py), so these bounds also bound how long any other
request waits (timings: benchmarks/RESULTS.md, "Serving").
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DcganError

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer
MAX_NUM = 64  # images in one /api/generate grid
MAX_WALK_STEPS = 32  # frames of one /api/interpolate walk (both ends included)
INPAINT_STEPS, MAX_INPAINT_STEPS = 60, 200  # Adam steps of one /api/inpaint (default, most)
INPAINT_CANDIDATES, MAX_INPAINT_CANDIDATES = 2, 4  # latents optimised together; the best is returned
MAX_BODY_BYTES = 8 * 2**20  # a whole request body: an uploaded image and its mask, or their base64 in JSON
MAX_IMAGE_PIXELS = 4096 * 4096  # declared width x height of an uploaded image, checked before decoding


def as_dict() -> dict[str, int]:
    """The limits as /api/model reports them."""
    return {
        "max_num": MAX_NUM,
        "max_seed": MAX_SEED,
        "max_walk_steps": MAX_WALK_STEPS,
        "max_inpaint_steps": MAX_INPAINT_STEPS,
        "max_inpaint_candidates": MAX_INPAINT_CANDIDATES,
        "max_body_bytes": MAX_BODY_BYTES,
        "max_image_pixels": MAX_IMAGE_PIXELS,
    }


class Refused(DcganError):
    """A request the server will not do (its answer is a 4xx with {"error": message})."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def too_large(size: int | None = None) -> str:
    got = f" ({size:,} bytes)" if size is not None else ""
    return f"the request body is too large{got}: at most {MAX_BODY_BYTES:,} bytes (send a smaller image)"


class BodyLimit:
    """ASGI middleware: a request whose Content-Length is over `max_bytes` is answered 413 at once,
    without reading its body; a body without Content-Length (chunked) is counted as it streams in,
    and reading stops with a 413 as soon as it passes the cap. Nothing past the cap is buffered."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _json(send, 400, "Content-Length is not a number")
                return
            if size > self.max_bytes:
                await _json(send, 413, too_large(size))
                return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, too_large())  # answered by the app's error handler
            return message

        await self.app(scope, capped, send)


async def _json(send: Send, status: int, error: str) -> None:
    import json

    body = json.dumps({"error": error}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.append((b"connection", b"close"))  # the unread body must not be taken for the next request
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
