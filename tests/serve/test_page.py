"""The page of `dcgan serve` in a real browser: headless Chromium driven by Selenium against a real
`dcgan serve` process. Each test clicks what a user clicks and decodes the images that arrived in
the page (their data: URLs): the right size, the pixels the API gives for the same request, and
changed where they should change.

Needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver). Without
chromedriver the tests skip, except in CI (CI=true), where they fail. To refresh docs/serve.png:
DCGAN_SERVE_RUN=runs/fashion DCGAN_SERVE_SCREENSHOT=docs/serve.png python3 -m pytest -q tests/serve/test_page.py
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from .conftest import Server, decode, decode_b64, pixels, start_server

CHROMIUM = "/usr/bin/chromium"


def chromedriver() -> str:
    found = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").is_file() else None
    )
    if found and Path(CHROMIUM).is_file():
        return found
    why = "headless Chromium is not installed (apt-get install -y -q chromium chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: CI must run the browser tests")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    driver_path = chromedriver()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1300,1100"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page_server(varied_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    run = Path(os.environ.get("DCGAN_SERVE_RUN") or varied_run)
    server = start_server(run, tmp_path_factory.mktemp("page"))
    yield server
    code, _, err = server.stop()
    assert code == 0 and "Traceback" not in err, err


def wait(driver, condition, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def element(driver, id_: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, id_)


def loads(driver, id_: str) -> int:
    return int(element(driver, id_).get_attribute("data-loads"))


def image_of(driver, id_: str) -> Image.Image:
    src = element(driver, id_).get_attribute("src")
    assert src.startswith("data:image/png;base64,"), src[:40]
    return decode_b64(src)


def click_and_wait(driver, button: str, image: str) -> Image.Image:
    before = loads(driver, image)
    element(driver, button).click()
    wait(driver, lambda d: loads(d, image) > before or element(d, "error").is_displayed())
    assert not element(driver, "error").is_displayed(), element(driver, "error").text
    return image_of(driver, image)


def open_page(driver, server: Server) -> None:
    driver.get(server.url + "/")
    wait(driver, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")
    assert not element(driver, "error").is_displayed(), element(driver, "error").text
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors  # nothing failed to load: no CDN, no missing file, no script error


def api_grid(server: Server, **body) -> Image.Image:
    return decode(httpx.post(f"{server.url}/api/generate", json=body, timeout=30).content)


def test_samples_walk_and_inpainting_in_the_browser(browser, page_server: Server, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    size = httpx.get(f"{page_server.url}/api/model").json()["accepts"]["size"]
    open_page(browser, page_server)
    # The first grid: seed 0, 16 images, as the API makes it; the model card is shown.
    first = image_of(browser, "grid")
    assert first.size == (4 * (size + 2) + 2,) * 2
    assert np.array_equal(pixels(first), pixels(api_grid(page_server, num=16, seed=0)))
    assert element(browser, "card").text and "synthetic" in element(browser, "provenance").text
    # "new samples": another seed, other images.
    grid = click_and_wait(browser, "new-samples", "grid")
    seed = int(element(browser, "seed").get_attribute("value"))
    assert seed != 0 and np.array_equal(pixels(grid), pixels(api_grid(page_server, num=16, seed=seed)))
    assert not np.array_equal(pixels(grid), pixels(first))
    assert element(browser, "download-grid").get_attribute("href").startswith("data:image/png;base64,")
    # The walk: frame 0 is seed 0's first image; moving the slider shows other frames, the end seed 1's.
    start = image_of(browser, "walk-image")
    assert start.size == (size, size)
    assert np.array_equal(pixels(start), pixels(api_grid(page_server, num=1, seed=0)))
    frames = httpx.post(
        f"{page_server.url}/api/interpolate", json={"seed_a": 0, "seed_b": 1, "steps": 16, "format": "json"}
    )
    frames = [pixels(decode_b64(t)) for t in frames.json()["images"]]
    slider = element(browser, "walk-slider")
    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert slider.get_attribute("value") == "3"
    wait(browser, lambda d: np.array_equal(pixels(image_of(d, "walk-image")), frames[3]))
    assert not np.array_equal(frames[3], pixels(start))
    slider.send_keys(Keys.END)
    assert slider.get_attribute("value") == "15"
    wait(browser, lambda d: np.array_equal(pixels(image_of(d, "walk-image")), frames[15]))
    assert np.array_equal(frames[15], pixels(api_grid(page_server, num=1, seed=1)))  # the walk ends at seed 1's image
    # Inpainting: upload an image, paint a stroke across its middle, inpaint.
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    element(browser, "inpaint-file").send_keys(str(tmp_path / "photo.png"))
    canvas = element(browser, "inpaint-canvas")
    wait(browser, lambda d: element(d, "inpaint-button").is_enabled())
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(40, 0).move_by_offset(
        0, 30
    ).release().perform()
    assert int(canvas.get_attribute("data-painted")) > 0
    element(browser, "inpaint-steps").clear()
    element(browser, "inpaint-steps").send_keys("20")
    result = click_and_wait(browser, "inpaint-button", "inpaint-result")
    assert result.size == (size, size) and result.text["dcgan:synthetic"] == "true"
    from dcgan.data.decode import decode_image

    channels = 1 if result.mode == "L" else 3
    target = decode_image((tmp_path / "photo.png").read_bytes(), size, channels)
    target = target[0] if channels == 1 else target.transpose(1, 2, 0)
    changed = np.any(np.atleast_3d(pixels(result)) != np.atleast_3d(target), axis=2)
    assert 0 < changed.mean() < 0.6  # the painted stroke was regenerated, the rest kept
    assert "loss" in element(browser, "inpaint-info").text
    # "use sample 1": the grid's first image becomes the one to inpaint.
    sources = int(canvas.get_attribute("data-sources"))
    element(browser, "use-sample").click()
    wait(browser, lambda d: int(canvas.get_attribute("data-sources")) > sources)
    ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(0, 60).release().perform()
    again = click_and_wait(browser, "inpaint-button", "inpaint-result")
    assert again.size == (size, size) and not np.array_equal(pixels(again), pixels(result))
    screenshot = os.environ.get("DCGAN_SERVE_SCREENSHOT")
    if screenshot:
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1300, height + 140)  # the whole page in one picture
        browser.execute_script("window.scrollTo(0, 0)")
        png = Image.open(io.BytesIO(base64.b64decode(browser.get_screenshot_as_base64())))
        png.convert("RGB").save(screenshot, optimize=True)


def test_the_api_documentation_works_offline(browser, page_server: Server) -> None:
    browser.get(page_server.url + "/docs")
    wait(browser, lambda d: "/api/generate" in d.find_element("tag name", "body").text)
    requests = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert requests and all(url.startswith(page_server.url) for url in requests), requests


def test_the_class_picker_of_a_conditional_model(browser, conditional_run: Path, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    server = start_server(conditional_run, tmp_path)
    try:
        open_page(browser, server)
        picker = Select(element(browser, "class"))
        assert [o.text for o in picker.options] == ["any", "circle", "square", "triangle"]
        grids = {}
        for name in ("circle", "triangle"):
            picker.select_by_visible_text(name)
            grids[name] = click_and_wait(browser, "show-seed", "grid")
            assert np.array_equal(pixels(grids[name]), pixels(api_grid(server, num=16, seed=0, **{"class": name})))
        assert not np.array_equal(pixels(grids["circle"]), pixels(grids["triangle"]))
    finally:
        code, _, err = server.stop()
        assert code == 0 and "Traceback" not in err, err
