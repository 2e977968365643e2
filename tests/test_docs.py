"""The README stays true: CI runs its test command verbatim, and its main job uses real flags."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    main_job, tests = readme_commands()
    assert tests.endswith("python3 -m pytest -q") and "dataset-fashion-mnist" in tests
    assert tests in (ROOT / ".ci" / "run").read_text()
    assert main_job.endswith("dcgan train --out runs/fashion") and "torch==2.13.0" in main_job


def test_readme_has_no_unfilled_placeholders() -> None:
    text = (ROOT / "README.md").read_text()
    assert not re.findall(r"\b[A-Z]{3,}_[A-Z_]{3,}\b", text)
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (ROOT / image).is_file(), image
