"""What cannot be read is skipped and logged, never fatal and never forged: unreadable sub-folders and
files, the skip threshold, and skipped.txt lines that a file name cannot break.

Permissions: these tests run as root here, and root ignores chmod. So "no permission" is made real
in-process: `os.scandir` (what the folder readers list with) or the reader's `open` is replaced by
one that raises PermissionError for exactly one path and behaves normally for every other.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan.data import files
from dcgan.data.base import Skipped
from dcgan.data.pack import escape_field, read_skip_log, unescape_field, write_skip_log
from dcgan.data.store import open_store
from dcgan.errors import DataError


def deny_listing(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """`os.scandir` of these folders raises PermissionError, as for a folder without read permission."""
    real = os.scandir
    denied = {str(folder.resolve()) for folder in folders}

    def scandir(path: object = ".") -> object:
        if not isinstance(path, int) and os.path.realpath(os.fspath(path)) in denied:  # rmtree passes fds
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def deny_reading(monkeypatch: pytest.MonkeyPatch, file: Path) -> None:
    """The folder reader's `open` of this file raises PermissionError, as for a file without read permission."""
    denied = str(file.resolve())

    def guarded_open(path: object, *args: object, **kwargs: object) -> object:
        if os.path.realpath(os.fspath(path)) == denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(files, "open", guarded_open, raising=False)  # shadows the builtin in that module only


def log_lines(store) -> list[str]:
    text = Path(store.manifest["skipped_log"]).read_text(encoding="utf-8")
    return [line for line in text.split("\n") if line and not line.startswith("#")]


def test_an_unreadable_sub_folder_is_skipped_and_logged(image_folder, cache, monkeypatch, capsys):
    full = open_store(str(image_folder.path), 16, cache_dir=cache / "full", progress=False)
    capsys.readouterr()
    # c/ holds c/cmyk.jpg and c/deep/ (two more images); the rest of the folder is fine.
    deny_listing(monkeypatch, image_folder.path / "c")
    store = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)

    in_c = [name for name in image_folder.good if name.startswith("c/")]
    assert len(in_c) == 3 and len(store) == len(image_folder.good) - 3 == 10
    assert store.manifest["skipped"] == 5  # the 4 bad files and the folder
    assert "c/\tcannot list folder: Permission denied" in log_lines(store)
    assert "skipped 5 of 15 files" in capsys.readouterr().err
    # The images kept are exactly the others, in order.
    others = [image_folder.index(name) for name in image_folder.good if not name.startswith("c/")]
    np.testing.assert_array_equal(store.images, full.images[others])


def test_an_unreadable_file_is_skipped_and_logged(image_folder, cache, monkeypatch):
    deny_reading(monkeypatch, image_folder.path / "d" / "photo.bmp")
    store = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    assert len(store) == 12 and store.manifest["skipped"] == 5
    assert "d/photo.bmp\tcannot read: Permission denied" in log_lines(store)


def test_a_mostly_unreadable_source_is_still_refused(tmp_path, cache, monkeypatch, data_helpers):
    """One readable image and three unreadable folders: 3 of 4 items skipped, over the threshold."""
    png = data_helpers.encode(Image.new("RGB", (12, 12)), "PNG")
    root = data_helpers.write_tree(tmp_path / "mostly", {"ok.png": png, **{f"{n}/x.png": png for n in "abc"}})
    deny_listing(monkeypatch, root / "a", root / "b", root / "c")
    with pytest.raises(DataError) as refused:
        open_store(str(root), 8, cache_dir=cache, progress=False)
    message = str(refused.value)
    assert "3 of 4 files could not be read as images (over 50%)" in message
    assert "3 of them are folders that could not be listed" in message
    log = Path(message.split("see ")[1].split(" for each")[0])
    assert [item.name for item in read_skip_log(log)] == ["a/", "b/", "c/"]


def test_only_unreadable_sub_folders_is_no_images_and_says_why(tmp_path, cache, monkeypatch, data_helpers):
    root = data_helpers.write_tree(tmp_path / "locked", {"a/x.png": b"x", "b/y.png": b"y"})
    deny_listing(monkeypatch, root / "a", root / "b")
    with pytest.raises(DataError, match=r"no images .* found in folder .*locked \(2 sub-folders could not be listed"):
        open_store(str(root), 8, cache_dir=cache, progress=False)


def test_an_unreadable_source_folder_is_one_error(image_folder, cache, monkeypatch):
    deny_listing(monkeypatch, image_folder.path)
    with pytest.raises(DataError, match=f"--data {image_folder.path}: cannot list .* \\(Permission denied\\)"):
        open_store(str(image_folder.path), 8, cache_dir=cache, progress=False)


def test_an_unreadable_celeba_image_folder_is_one_error(celeba_root, cache, monkeypatch):
    deny_listing(monkeypatch, celeba_root / "img_align_celeba")
    with pytest.raises(DataError, match=r"cannot list .*img_align_celeba \(Permission denied\)"):
        open_store(str(celeba_root), 8, cache_dir=cache, progress=False)


def test_a_truncated_partition_file_says_which_images_are_in_no_split(celeba_root, cache, capsys):
    partition = celeba_root / "list_eval_partition.txt"
    partition.write_text("".join(partition.read_text().splitlines(keepends=True)[:8]))  # val and test lost
    store = open_store(str(celeba_root), 8, cache_dir=cache, progress=False)
    assert len(store) == 8
    err = capsys.readouterr().err
    assert "note: 4 images in" in err and "'000009.jpg'" in err and "so they are in no split" in err
    with pytest.raises(DataError, match="none of the images .* belong to the test split"):
        open_store(str(celeba_root), 8, split="test", cache_dir=cache, progress=False)


# ---------------------------------------------------------------------------------------------
# skipped.txt: one line per item, whatever the name holds.

TRICKY = [
    "a.png\nfake.png\tbroken",
    "tab\there.jpg",
    "#looks-like-a-comment.png",
    "cr\rlf.png",
    "back\\slash\\x41.png",
    "line\u2028separator\x85next.png",
    "bell\x07\x1b[31mred.png",
    "caf\u00e9 \U0001f600.png",  # printable: kept as it is
    os.fsdecode(b"latin1-\xe9.png"),  # not UTF-8: a surrogate escape
    "rtl\u202eevil.png",
    "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_escaping_round_trips_and_stays_on_one_line(text):
    escaped = escape_field(text)
    assert unescape_field(escaped) == text
    assert len(escaped.splitlines()) <= 1 and "\t" not in escaped and not escaped.startswith("#")
    escaped.encode("utf-8")  # writable as text, also for bytes that are not UTF-8
    if text.isprintable() and "\\" not in text and not text.startswith("#"):
        assert escaped == text  # readable names are left alone


def test_skip_log_items_cannot_forge_lines(tmp_path):
    items = [Skipped(name, f"reason for {name!r}\nsecond line\tcolumn") for name in TRICKY]
    log = tmp_path / "skipped.txt"
    write_skip_log(log, items)
    lines = log.read_text(encoding="utf-8").split("\n")
    assert lines[0].startswith("#") and lines[-1] == ""
    body = lines[1:-1]
    assert len(body) == len(items) and all(line.count("\t") == 1 for line in body)
    assert len(log.read_text(encoding="utf-8").splitlines()) == len(items) + 1  # no hidden line breaks either
    assert read_skip_log(log) == items


def test_real_files_with_newlines_and_tabs_in_their_names(tmp_path, cache, data_helpers):
    """Real files: a forged-entry name, a tab, a leading '#', and a name that is not UTF-8."""
    good = {f"good/{i}.png": data_helpers.encode(Image.new("RGB", (10, 10), (i, 0, 0)), "PNG") for i in range(6)}
    root = data_helpers.write_tree(tmp_path / "names", good)
    bad_names = ["a.png\nfake.png\tbroken\nz.png", "tab\there.jpg", "#hash.png"]
    for name in bad_names:
        (root / name).write_bytes(b"not an image")
    raw = os.path.join(os.fsencode(root), b"latin1-\xe9.png")
    with open(raw, "wb") as f:
        f.write(b"not an image either")
    bad_names.append(os.fsdecode(b"latin1-\xe9.png"))

    store = open_store(str(root), 8, cache_dir=cache, progress=False)
    assert len(store) == 6 and store.manifest["skipped"] == 4
    lines = log_lines(store)
    assert len(lines) == 4 and all(line.count("\t") == 1 for line in lines)
    assert not any(line.startswith(("fake.png", "z.png")) for line in lines)
    assert "a.png\\nfake.png\\tbroken\\nz.png\tnot a JPEG/PNG/BMP/WebP image" in "\n".join(lines)
    logged = read_skip_log(Path(store.manifest["skipped_log"]))
    assert sorted(item.name for item in logged) == sorted(bad_names)
    assert all("\n" not in item.reason for item in logged)


def test_multi_line_reasons_are_one_line(image_folder, cache, monkeypatch):
    from dcgan.data.base import SkipImage

    real = files.decode_image

    def decode(data, size, channels):
        if data.startswith(b"BM"):  # d/photo.bmp
            raise SkipImage("first line\nsecond line\twith a tab")
        return real(data, size, channels)

    monkeypatch.setattr(files, "decode_image", decode)
    store = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    assert "d/photo.bmp\tfirst line second line with a tab" in log_lines(store)
