"""The HTTP API of `dcgan serve` on tiny real runs, through FastAPI's TestClient: every endpoint, the
pixels it returns (equal to the library's), provenance tags, determinism, and every bad request a
4xx with a one-line JSON error after which the server still answers good requests."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image, ImageFilter

from dcgan.card import model_card
from dcgan.data.decode import decode_image
from dcgan.generator import load_generator
from dcgan.latent.walks import walk
from dcgan.serve import limits
from dcgan.serve.app import create_app

from .conftest import decode, decode_b64, mask_file, pixels, png_file

SIZE = 32  # the runs' image size


@pytest.fixture(scope="module")
def model(varied_run: Path):
    return load_generator(varied_run)


@pytest.fixture(scope="module")
def client(model, varied_run: Path) -> TestClient:
    return TestClient(create_app(model, model_card(model, varied_run)))


def grid_side(n: int, size: int = SIZE, padding: int = 2) -> int:
    return n * (size + padding) + padding


def test_the_model_card_and_what_the_model_accepts(client: TestClient, model) -> None:
    r = client.get("/api/model")
    assert r.status_code == 200
    card, accepts = r.json()["card"], r.json()["accepts"]
    assert card["data"] == "synthetic" and card["steps"] == model.step and "synthetic" in card["provenance"]
    assert accepts["size"] == SIZE and accepts["channels"] == 1 and accepts["conditional"] is False
    assert accepts["limits"]["max_num"] == limits.MAX_NUM and accepts["inpaint"] is True


def test_generate_answers_a_tagged_png_grid_of_the_samples_generate_makes(client: TestClient, model) -> None:
    r = client.post("/api/generate", json={"num": 4, "seed": 7})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    grid = decode(r.content)
    assert grid.size == (grid_side(2), grid_side(2)) and grid.mode == "L"
    assert grid.text["dcgan:synthetic"] == "true" and grid.text["dcgan:seed"] == "7"
    assert grid.text["Software"] == "dcgan" and grid.text["dcgan:step"] == str(model.step)
    expected = model.sample(4, seed=7).numpy()
    assert np.array_equal(pixels(grid)[2 : 2 + SIZE, 2 : 2 + SIZE], expected[0, 0])  # top left is image 0
    assert np.array_equal(pixels(grid)[-2 - SIZE : -2, -2 - SIZE : -2], expected[3, 0])  # bottom right is image 3
    wide = decode(client.post("/api/generate", json={"num": 4, "seed": 7, "nrow": 4}).content)
    assert wide.size == (grid_side(4), grid_side(1))


def test_json_answers_one_tagged_png_per_image(client: TestClient, model) -> None:
    r = client.post("/api/generate", json={"num": 3, "seed": 5, "format": "json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert (body["width"], body["height"], body["seed"]) == (SIZE, SIZE, 5) and len(body["images"]) == 3
    expected = model.sample(3, seed=5).numpy()
    for i, text in enumerate(body["images"]):
        image = decode_b64(text)
        assert image.size == (SIZE, SIZE) and image.text["dcgan:synthetic"] == "true"
        assert image.text["index"] == str(i)
        assert np.array_equal(pixels(image), expected[i, 0])


def test_same_seed_same_bytes_other_seed_other_image(client: TestClient) -> None:
    first = client.post("/api/generate", json={"num": 4, "seed": 1}).content
    again = client.post("/api/generate", json={"num": 4, "seed": 1}).content
    other = client.post("/api/generate", json={"num": 4, "seed": 2}).content
    assert first == again
    difference = np.abs(pixels(decode(first)).astype(int) - pixels(decode(other)).astype(int))
    assert difference.mean() > 5  # visibly other images, not a rounding difference


def test_interpolate_walks_from_one_seeds_image_to_the_others(client: TestClient, model) -> None:
    body = client.post("/api/interpolate", json={"seed_a": 3, "seed_b": 9, "steps": 5, "format": "json"}).json()
    frames = np.stack([pixels(decode_b64(t)) for t in body["images"]])
    assert frames.shape == (5, SIZE, SIZE)
    assert np.array_equal(frames, walk(model, [3, 9], 5).numpy()[:, 0])  # the library's walk, frame for frame
    assert np.array_equal(frames[0], model.sample(1, seed=3).numpy()[0, 0])
    assert np.array_equal(frames[-1], model.sample(1, seed=9).numpy()[0, 0])
    assert all(np.abs(frames[i].astype(int) - frames[i + 1]).mean() > 0 for i in range(4))
    strip = client.post("/api/interpolate", json={"seed_a": 3, "seed_b": 9, "steps": 5, "mode": "lerp"})
    assert strip.headers["content-type"] == "image/png"
    assert decode(strip.content).size == (grid_side(5), grid_side(1))
    assert decode(strip.content).text["dcgan:synthetic"] == "true"


def test_inpaint_fills_the_hole_and_keeps_the_rest(client: TestClient) -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    data, mask = buffer.getvalue(), mask_file((48, 40), (16, 12, 32, 28))
    files = {"image": ("a.png", data, "image/png"), "mask": ("m.png", mask, "image/png")}
    r = client.post("/api/inpaint", files=files, data={"steps": "5", "candidates": "2", "format": "json"})
    assert r.status_code == 200, r.text
    body = r.json()
    target = decode_image(data, SIZE, 1)[0]  # the upload as the model sees it: cropped, resized, grey
    assert np.array_equal(pixels(decode_b64(body["target"])), target)
    hole = pixels(decode_b64(body["mask"])) > 0
    assert 0 < hole.mean() < 0.5
    assert len(body["images"]) == 2 and body["losses"] == sorted(body["losses"])
    best = decode_b64(body["images"][0])
    assert best.size == (SIZE, SIZE) and best.text["dcgan:synthetic"] == "true"
    band = 1  # the seam band at 32 px (dcgan.latent.inverse.seam_band)
    far = ~np.asarray(Image.fromarray(hole).filter(ImageFilter.MaxFilter(2 * band + 1)))
    assert np.array_equal(pixels(best)[far], target[far])  # outside the hole and its seam: the input, exactly
    assert not np.array_equal(pixels(best)[hole], target[hole])  # inside: generated
    # The same request as JSON with base64, answered as one PNG.
    as_json = {"image": base64.b64encode(data).decode(), "mask": base64.b64encode(mask).decode(), "steps": 5}
    r = client.post("/api/inpaint", json=as_json)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert decode(r.content).size == (SIZE, SIZE) and decode(r.content).text["dcgan:synthetic"] == "true"


def _bomb() -> bytes:
    """A small PNG that declares 5000 x 5000 pixels (25 M, over the upload limit)."""
    buffer = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buffer, "PNG")
    return buffer.getvalue()


IMAGE, MASK = png_file((40, 40)), mask_file((40, 40), (10, 10, 20, 20))


def upload(image: bytes = IMAGE, mask: bytes = MASK, **fields: str) -> dict:
    return {"files": {"image": ("a.png", image, "image/png"), "mask": ("m.png", mask, "image/png")}, "data": fields}


BAD = {
    "num-too-large": ("/api/generate", {"json": {"num": 1000}}, 422, "num: Input should be less than or equal to 64"),
    "num-zero": ("/api/generate", {"json": {"num": 0}}, 422, "num"),
    "num-as-text": ("/api/generate", {"json": {"num": "4"}}, 422, "num: Input should be a valid integer"),
    "num-fraction": ("/api/generate", {"json": {"num": 1.5}}, 422, "num"),
    "num-boolean": ("/api/generate", {"json": {"num": True}}, 422, "num"),
    "negative-seed": ("/api/generate", {"json": {"seed": -1}}, 422, "seed: Input should be greater than or equal to 0"),
    "huge-seed": ("/api/generate", {"json": {"seed": 2**64}}, 422, "seed"),
    "unknown-field": ("/api/generate", {"json": {"nums": 4}}, 422, "nums: Extra inputs are not permitted"),
    "unknown-format": ("/api/generate", {"json": {"format": "gif"}}, 422, "format"),
    "class-for-unconditional": ("/api/generate", {"json": {"class": "shirt"}}, 422, "not conditional"),
    "not-json": (
        "/api/generate",
        {"content": b"{num: 4", "headers": {"content-type": "application/json"}},
        422,
        "JSON",
    ),
    "body-a-list": ("/api/generate", {"json": [1, 2]}, 422, "body"),
    "walk-one-step": ("/api/interpolate", {"json": {"steps": 1}}, 422, "steps"),
    "walk-too-long": ("/api/interpolate", {"json": {"steps": 1000}}, 422, "steps"),
    "walk-unknown-mode": ("/api/interpolate", {"json": {"mode": "cubic"}}, 422, "mode"),
    "non-image-upload": ("/api/inpaint", upload(image=b"this is text"), 422, "image: not a readable"),
    "empty-upload": ("/api/inpaint", upload(image=b""), 422, "image: the file is empty"),
    "truncated-upload": ("/api/inpaint", upload(image=IMAGE[: len(IMAGE) // 2]), 422, "image"),
    "decompression-bomb": ("/api/inpaint", upload(image=_bomb()), 413, "over the limit"),
    "wrong-mask-size": ("/api/inpaint", upload(mask=mask_file((30, 40), (1, 1, 9, 9))), 422, "mask: is 30x40"),
    "empty-mask": ("/api/inpaint", upload(mask=mask_file((40, 40), (0, 0, 0, 0))), 422, "nothing to fill"),
    "full-mask": ("/api/inpaint", upload(mask=mask_file((40, 40), (0, 0, 40, 40))), 422, "whole image"),
    "missing-mask": ("/api/inpaint", {"files": {"image": ("a.png", IMAGE, "image/png")}}, 422, "mask: missing"),
    "mask-not-a-file": ("/api/inpaint", {"files": {"image": ("a.png", IMAGE)}, "data": {"mask": "x"}}, 422, "file"),
    "too-many-steps": ("/api/inpaint", upload(steps="100000"), 422, "steps"),
    "steps-as-words": ("/api/inpaint", upload(steps="many"), 422, "steps"),
    "unknown-form-field": ("/api/inpaint", upload(colour="red"), 422, "colour"),
    "bad-base64": ("/api/inpaint", {"json": {"image": "not base64!", "mask": "AAAA"}}, 422, "image: is not base64"),
    "json-missing-mask": ("/api/inpaint", {"json": {"image": base64.b64encode(IMAGE).decode()}}, 422, "mask"),
    "plain-text-body": (
        "/api/inpaint",
        {"content": b"hello", "headers": {"content-type": "text/plain"}},
        415,
        "multipart",
    ),
    "oversized-upload": ("/api/inpaint", upload(image=b"\0" * (limits.MAX_BODY_BYTES + 1)), 413, "too large"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_request_is_a_4xx_with_a_json_error_and_the_server_goes_on(client: TestClient, case: str) -> None:
    path, request, status, needle = BAD[case]
    r = client.post(path, **request)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert needle in error and "\n" not in error and "Traceback" not in error, error
    assert client.post("/api/generate", json={"num": 1}).status_code == 200


def test_an_oversized_body_is_refused_before_it_is_read(client: TestClient) -> None:
    """By its Content-Length, at once; without one (chunked), as soon as the count passes the cap: the
    application is driven at the ASGI level with a body of 64 MiB offered in 1 MiB chunks."""
    headers = {"content-length": str(10**12), "content-type": "application/json"}
    r = client.post("/api/generate", content=b"{}", headers=headers)
    assert r.status_code == 413 and "1,000,000,000,000 bytes" in r.json()["error"]

    preamble = b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    for kind, first in ((b"multipart/form-data; boundary=x", preamble), (b"application/json", b'{"image": "')):
        sent, chunks_read = _asgi_post(client.app, "/api/inpaint", kind, first, chunks=64)
        assert sent[0]["status"] == 413 and b"too large" in sent[1]["body"], sent
        assert chunks_read <= limits.MAX_BODY_BYTES // 2**20 + 1  # of 64: reading stopped just past the cap


def _asgi_post(app, path: str, content_type: bytes, first: bytes, chunks: int) -> tuple[list[dict], int]:
    """POST to the ASGI app a body of `first` + `chunks` MiB of zeros, 1 MiB per receive(), without a
    Content-Length; (the messages the app sent, how many chunks it read)."""
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        read += 1
        return {
            "type": "http.request",
            "body": (first if read == 1 else b"") + b"a" * 2**20,
            "more_body": read < chunks,
        }

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", content_type), (b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    return sent, read


def test_unknown_paths_and_methods_are_json_errors_too(client: TestClient) -> None:
    assert client.get("/api/nothing").json() == {"error": "Not Found"}
    r = client.get("/api/generate")
    assert r.status_code == 405 and r.json() == {"error": "Method Not Allowed"}


def test_requests_at_once_get_the_answers_they_get_one_by_one(client: TestClient) -> None:
    """Inference runs under one lock: concurrent requests queue and each gets its own seed's images."""
    expected = {seed: client.post("/api/generate", json={"num": 8, "seed": seed}).content for seed in range(6)}
    got: dict[int, bytes] = {}

    def ask(seed: int) -> None:
        got[seed] = client.post("/api/generate", json={"num": 8, "seed": seed}).content

    threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


def test_the_page_and_the_offline_docs_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="new-samples"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    docs = client.get("/docs").text
    assert "swagger-ui-bundle.js" in docs and "cdn" not in docs.lower() and "https://" not in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    num = spec["components"]["schemas"]["GenerateRequest"]["properties"]["num"]
    assert (num["minimum"], num["maximum"]) == (1, limits.MAX_NUM)
    assert set(spec["paths"]["/api/inpaint"]["post"]["requestBody"]["content"]) == {
        "multipart/form-data",
        "application/json",
    }


def test_a_conditional_model_takes_a_class_by_name(conditional_run: Path) -> None:
    model = load_generator(conditional_run)
    client = TestClient(create_app(model, model_card(model, conditional_run)))
    accepts = client.get("/api/model").json()["accepts"]
    assert accepts["conditional"] is True and accepts["class_names"] == ["circle", "square", "triangle"]
    by_class = {}
    for name in accepts["class_names"]:
        r = client.post("/api/generate", json={"num": 4, "seed": 0, "class": name, "format": "json"})
        assert r.status_code == 200, r.text
        by_class[name] = np.stack([pixels(decode_b64(t)) for t in r.json()["images"]])
        labels = model.labels_for(class_=name, num=4)
        assert np.array_equal(by_class[name], model.sample(4, seed=0, labels=labels).numpy()[:, 0])
    assert not np.array_equal(by_class["circle"], by_class["square"])
    r = client.post("/api/generate", json={"num": 4, "class": "hexagon"})
    assert r.status_code == 400 and all(n in r.json()["error"] for n in ("hexagon", "circle", "square"))
    walk_frames = client.post("/api/interpolate", json={"steps": 3, "class": "square", "format": "json"}).json()
    square = model.labels_for(class_="square", num=1)
    z = model.latents(1, seed=0)
    first = ((model(z, square).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()[0, 0]
    assert np.array_equal(pixels(decode_b64(walk_frames["images"][0])), first)


def test_a_generator_only_export_serves_samples_and_refuses_inpainting(cli, varied_run: Path, tmp_path: Path) -> None:
    code, _, err = cli("export", str(varied_run), "--out", str(tmp_path / "export"))
    assert code == 0, err
    model = load_generator(tmp_path / "export")
    client = TestClient(create_app(model, model_card(model, tmp_path / "export")))
    assert client.get("/api/model").json()["accepts"]["inpaint"] is False
    grid = client.post("/api/generate", json={"num": 4, "seed": 7, "format": "json"}).json()["images"]
    assert np.array_equal(pixels(decode_b64(grid[0])), load_generator(varied_run).sample(1, seed=7).numpy()[0, 0])
    r = client.post("/api/inpaint", **upload())
    assert r.status_code == 400 and "no discriminator" in r.json()["error"]


def test_a_failure_inside_is_a_json_500_and_the_server_goes_on(varied_run: Path) -> None:
    model = load_generator(varied_run)
    client = TestClient(create_app(model, model_card(model, varied_run)), raise_server_exceptions=False)
    real_sample = model.sample
    model.sample = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("out of memory"))  # type: ignore[method-assign]
    r = client.post("/api/generate", json={"num": 2})
    assert r.status_code == 500 and r.json() == {"error": "internal error (RuntimeError); the server goes on serving"}
    model.sample = real_sample  # type: ignore[method-assign]
    assert client.post("/api/generate", json={"num": 2}).status_code == 200
