"""decode_image: every Pillow mode converts correctly; bad files are skipped with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dcgan.data import decode as decode_module
from dcgan.data.base import SkipImage
from dcgan.data.decode import dataset_pixel_limit, decode_image

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def decode(helpers, name: str, size: int = 16, channels: int = 3) -> np.ndarray:
    data, _ = helpers.mode_images()[name]
    with dataset_pixel_limit():
        out = decode_image(data, size, channels)
    assert out.shape == (channels, size, size) and out.dtype == np.uint8
    return out


def pixel(image: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in image[:, y, x])


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 6) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


@pytest.mark.parametrize(
    "name, left, right",
    [
        ("a_gray/l.png", (100,) * 3, (100,) * 3),
        ("a_gray/la.png", WHITE, (128,) * 3),
        ("b_color/p.png", RED, BLUE),
        ("b_color/p_transparent.png", WHITE, BLUE),
        ("b_color/rgba_red.png", RED, RED),
        ("b_color/rgba_half.png", WHITE, GREEN),
        ("c/cmyk.jpg", RED, RED),
        ("d/photo.webp", BLUE, BLUE),
        ("d/photo.bmp", GREEN, GREEN),
        ("d/wide.png", BLUE, BLUE),
        ("d/TALL.PNG", GREEN, GREEN),
    ],
)
def test_modes_decode_to_the_right_colors(data_helpers, name, left, right):
    out = decode(data_helpers, name)
    assert near(pixel(out, 2, 8), left), pixel(out, 2, 8)
    assert near(pixel(out, 13, 8), right), pixel(out, 13, 8)


def test_gray_output_uses_luma(data_helpers):
    red = decode(data_helpers, "b_color/rgba_red.png", channels=1)
    assert abs(int(red[0, 8, 8]) - 76) <= 2  # ITU-R 601 luma of pure red
    white_left = decode(data_helpers, "b_color/rgba_half.png", channels=1)
    assert white_left[0, 8, 2] == 255


def test_16bit_is_scaled_not_clipped(data_helpers):
    out = decode(data_helpers, "c/deep/i16.png", size=32, channels=1)[0]  # native size: no resampling
    assert out.min() == 0 and out.max() == 255
    row = out[5].astype(int)
    assert np.all(np.diff(row) > 0)  # a clip to 255 would flatten all but the first columns
    assert 120 <= row[16] <= 135


def test_bilevel_gives_black_and_white(data_helpers):
    out = decode(data_helpers, "c/deep/bilevel.png", size=32, channels=1)
    assert set(np.unique(out)) == {0, 255}


def test_float_and_32bit_modes():
    floats = Image.fromarray(np.linspace(0.0, 1.0, 256, dtype=np.float32).reshape(16, 16))
    ints = Image.fromarray(np.linspace(0, 65535, 256).astype(np.int32).reshape(16, 16))
    assert (floats.mode, ints.mode) == ("F", "I")
    for img in (floats, ints):
        out = np.asarray(decode_module._convert(img, 3))
        assert out.shape == (16, 16, 3) and out.min() == 0 and out.max() == 255
        assert 120 <= out[8, 0, 0] <= 135  # the middle of the range stays in the middle


def test_upscales_and_downscales(data_helpers):
    small = decode(data_helpers, "b_color/rgba_red.png", size=64)  # 40 -> 64
    big = decode(data_helpers, "b_color/rgba_red.png", size=8)  # 40 -> 8
    assert near(pixel(small, 30, 30), RED) and near(pixel(big, 4, 4), RED)


@pytest.mark.parametrize(
    "name, reason",
    [
        ("bad/empty.jpg", "empty file"),
        ("bad/text.jpg", "not a JPEG/PNG/BMP/WebP image"),
        ("bad/truncated.jpg", "truncated"),
        ("bad/bomb.png", "pixel"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(data_helpers, name, reason):
    data = data_helpers.bad_files()[name]
    with dataset_pixel_limit(), pytest.raises(SkipImage, match=reason):
        decode_image(data, 16, 3)


def test_declared_size_is_checked_before_decoding(data_helpers):
    # Between 1x and 2x the limit Pillow only warns; decode_image must still refuse it.
    side = int((decode_module.MAX_DATASET_PIXELS * 1.5) ** 0.5)
    with dataset_pixel_limit(), pytest.raises(SkipImage, match="pixel limit"):
        decode_image(data_helpers.png_bomb(side, side), 16, 3)


def test_gif_is_not_accepted_even_with_an_image_extension(data_helpers):
    gif = data_helpers.encode(Image.new("RGB", (8, 8)), "GIF")
    with pytest.raises(SkipImage):
        decode_image(gif, 8, 3)


def test_pixel_limit_is_restored():
    before = Image.MAX_IMAGE_PIXELS
    with dataset_pixel_limit():
        assert Image.MAX_IMAGE_PIXELS == decode_module.MAX_DATASET_PIXELS
    assert Image.MAX_IMAGE_PIXELS == before


def test_exif_orientation_is_applied(data_helpers):
    img = Image.new("RGB", (40, 20), RED)
    img.paste(BLUE, (0, 0, 20, 20))  # blue on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": left column ends up on top
    data = data_helpers.encode(img, "JPEG", quality=95, exif=exif.tobytes())
    out = decode_image(data, 20, 3)  # the crop keeps the middle; the rotated image is 20 wide, 40 tall
    top, bottom = pixel(out, 10, 1), pixel(out, 10, 18)
    assert near(top, BLUE, 30) and near(bottom, RED, 30), (top, bottom)
