"""Data robustness through the real `dcgan` command: bad files and unreadable folders are skipped and
named (in a skip log that file names cannot forge), archives never write outside, damaged stores are
rebuilt, config files are data."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _data_fixtures():
    """The data layer's fixture makers (tests/data/conftest.py), loaded by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "data_fixtures", Path(__file__).resolve().parents[1] / "data" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["data_fixtures"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


bad_files = _data_fixtures().bad_files


def dcgan(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dcgan.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


def good_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def cache_env(cache: Path) -> dict:
    return dict(os.environ, DCGAN_CACHE=str(cache))


def test_bad_files_are_counted_skipped_and_named(tmp_path: Path) -> None:
    """Truncated, corrupt (text as .jpg), zero-byte and decompression-bomb files, plus non-images."""
    folder = tmp_path / "photos"
    for i in range(12):
        (folder / "good").mkdir(parents=True, exist_ok=True)
        (folder / "good" / f"{i}.png").write_bytes(good_png(i))
    for name, data in bad_files().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not an image and not named like one")
    proc = dcgan("prepare", str(folder), "--size", "16", env=cache_env(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    assert "12 images" in proc.stdout and "skipped 4" in proc.stdout
    store = Path(proc.stdout.split("store: ")[1].strip())
    log = (store / "skipped.txt").read_text()
    for name in ("bad/empty.jpg", "bad/text.jpg", "bad/truncated.jpg", "bad/bomb.png"):
        assert name in log, (name, log)
    assert "notes.txt" not in log  # not an image name: never considered
    assert np.load(store / "images.npy").shape == (12, 3, 16, 16)


def test_zip_with_path_traversal_writes_nothing_outside(tmp_path: Path) -> None:
    archive = tmp_path / "in" / "data.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(6):
            z.writestr(f"ok/{i}.png", good_png(i))
        z.writestr("../escaped.png", good_png(100))
        z.writestr("/abs/escaped2.png", good_png(101))
        z.writestr("a/../../escaped3.png", good_png(102))
    before = {p for p in tmp_path.rglob("*")}
    cache = tmp_path / "cache"
    proc = dcgan("prepare", str(archive), "--size", "16", env=cache_env(cache))
    assert proc.returncode == 0, proc.stderr
    assert "6 images" in proc.stdout
    after = {p for p in tmp_path.rglob("*")}
    # The only new files are the packed store in the cache; nothing was extracted anywhere.
    assert all(cache in p.parents or p == cache for p in after - before)
    assert not list(tmp_path.rglob("escaped*"))


def test_a_damaged_store_is_detected_by_checksum_and_rebuilt(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(8):
        (folder / f"{i}.png").write_bytes(good_png(i))
    env = cache_env(tmp_path / "cache")
    first = dcgan("prepare", str(folder), "--size", "16", env=env)
    assert first.returncode == 0, first.stderr
    store = Path(first.stdout.split("store: ")[1].strip())
    good = np.load(store / "images.npy")
    # Flip bytes in the middle of the pixel data (same size, same header): only the checksum can tell.
    raw = bytearray((store / "images.npy").read_bytes())
    raw[-100:-50] = bytes(255 - b for b in raw[-100:-50])
    (store / "images.npy").write_bytes(bytes(raw))
    second = dcgan("prepare", str(folder), "--size", "16", env=env)
    assert second.returncode == 0, second.stderr
    assert "rebuil" in second.stderr.lower() or "stale" in second.stderr.lower() or "damaged" in second.stderr.lower()
    assert np.array_equal(np.load(store / "images.npy"), good)


def test_config_files_are_parsed_as_data(tmp_path: Path) -> None:
    """A --config file is JSON or TOML: values only. Anything that looks like code stays a string,
    and unknown keys are refused with one line."""
    sentinel = tmp_path / "pwned"
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f'data = "synthetic"\nsize = 28\nepochs = 1\nlimit = 32\n'
        f"augment = \"__import__('os').system('touch {sentinel}')\"\n"
    )
    proc = dcgan("train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--dry-run")
    # The file is read as values: the "policy" is a string, which the config check refuses as a policy.
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith('error: --augment: unknown policy "__import__(')
    assert not sentinel.exists()
    # Trying to train with that "policy" is a clean error naming the flag, and still nothing ran.
    proc = dcgan("train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--no-progress")
    assert proc.returncode == 2 and "--augment" in proc.stderr and "Traceback" not in proc.stderr
    assert not sentinel.exists()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"size": 28, "evil": "x"}))
    proc = dcgan("train", "--config", str(bad), "--out", str(tmp_path / "r2"), "--dry-run")
    assert proc.returncode == 2 and "evil" in proc.stderr and "Traceback" not in proc.stderr
    pickle_like = tmp_path / "c.yaml"
    pickle_like.write_text("!!python/object/apply:os.system ['touch pwned']\n")
    proc = dcgan("train", "--config", str(pickle_like), "--out", str(tmp_path / "r3"), "--dry-run")
    assert proc.returncode == 2 and ".json or .toml" in proc.stderr
    assert not sentinel.exists() and not (tmp_path / "pwned").exists()


def without_dac_override() -> list[str] | None:
    """A command prefix under which chmod binds: none for a normal user; for root, `setpriv` without
    CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH (root ignores permissions otherwise); None when impossible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if setpriv else None


def test_an_unreadable_sub_folder_is_skipped_not_fatal(tmp_path: Path) -> None:
    """A real chmod 000 sub-folder (the command runs without root's override): skipped, logged, the rest packed."""
    prefix = without_dac_override()
    if prefix is None:
        pytest.skip("running as root without setpriv: chmod 000 does not bind")
    folder = tmp_path / "photos"
    for i in range(6):
        (folder / "open").mkdir(parents=True, exist_ok=True)
        (folder / "open" / f"{i}.png").write_bytes(good_png(i))
    (folder / "locked").mkdir()
    (folder / "locked" / "x.png").write_bytes(good_png(99))
    (folder / "locked").chmod(0)
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-m", "dcgan.cli", "prepare", str(folder), "--size", "16"],
            capture_output=True,
            text=True,
            timeout=300,
            env=cache_env(tmp_path / "cache"),
        )
    finally:
        (folder / "locked").chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert "6 images" in proc.stdout and "skipped 1" in proc.stdout
    store = Path(proc.stdout.split("store: ")[1].strip())
    assert "locked/\tcannot list folder: Permission denied\n" in (store / "skipped.txt").read_text()


def test_file_names_cannot_forge_skip_log_entries(tmp_path: Path) -> None:
    """A file named "a.png<LF>fake.png<TAB>broken<LF>z.png" is one escaped line of skipped.txt."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(6):
        (folder / f"{i}.png").write_bytes(good_png(i))
    (folder / "a.png\nfake.png\tbroken\nz.png").write_bytes(b"not an image")
    (folder / "tab\tname.jpg").write_bytes(b"")
    proc = dcgan("prepare", str(folder), "--size", "16", env=cache_env(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    store = Path(proc.stdout.split("store: ")[1].strip())
    lines = (store / "skipped.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#") and len(lines) == 3
    assert lines[1].startswith("a.png\\nfake.png\\tbroken\\nz.png\tnot a JPEG/PNG/BMP/WebP image")
    assert lines[2] == "tab\\tname.jpg\tempty file (0 bytes)"
