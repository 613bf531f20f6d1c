"""Every module the plugin ships imports on Python 3.9 (QGIS 3.22-3.28 on Windows), checked statically: no
3.9 interpreter is at hand. ruff (target py39) finds syntax 3.9 cannot parse (`match`, `except*`, …) and
PEP 604 / 585 annotations evaluated at import in modules without `from __future__ import annotations`
(FA102); vermin finds standard-library use newer than 3.9 (functions, keyword arguments, modules)."""
import subprocess
import sys
from pathlib import Path

from scripts.package import runtime_files

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the .venv's console scripts (requirements.txt pins ruff and vermin)
RUFF, VERMIN = str(BIN / "ruff"), str(BIN / "vermin")


def shipped_modules() -> list:
    return [name for name in runtime_files() if name.endswith(".py")]


def test_ruff_finds_nothing_python_39_cannot_import():
    done = subprocess.run([RUFF, "check", "--no-cache", "--isolated", "--target-version", "py39",
                           "--select", "FA102", "--output-format", "concise", *shipped_modules()],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(shipped_modules()) > 40


def test_vermin_finds_no_standard_library_use_newer_than_39():
    done = subprocess.run([VERMIN, "-t=3.9-", "--no-tips", "--violations", "--eval-annotations",
                           "--no-parse-comments", *shipped_modules()],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_checks_would_catch_what_broke_39(tmp_path):
    """The two ways the plugin failed on 3.9 before: a runtime PEP 604 annotation and a 3.10 API."""
    bad = tmp_path / "bad.py"
    bad.write_text("import itertools\n\ndef f(x: int | None) -> None:\n    return list(itertools.pairwise([1, 2]))\n")
    ruff = subprocess.run([RUFF, "check", "--no-cache", "--isolated", "--target-version",
                           "py39", "--select", "FA102", str(bad)], capture_output=True, text=True)
    vermin = subprocess.run([VERMIN, "-t=3.9-", "--no-tips", "--violations", str(bad)],
                            capture_output=True, text=True)
    assert ruff.returncode != 0 and "FA102" in ruff.stdout
    match = tmp_path / "match.py"
    match.write_text("def g(x):\n    match x:\n        case 1:\n            return 2\n")
    ruff = subprocess.run([RUFF, "check", "--no-cache", "--isolated", "--target-version", "py39", "--select", "FA102",
                           str(match)], capture_output=True, text=True)
    assert ruff.returncode != 0 and "Python 3.9" in ruff.stdout
    assert vermin.returncode != 0 and "pairwise" in vermin.stdout
