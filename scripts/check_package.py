#!/usr/bin/env python3
"""Checks a plugin ZIP against the QGIS plugin repository's upload rules, then scans it with Bandit.

The rules are those of plugins.qgis.org's validator (QGIS-Django, qgis-app/plugins/validator.py): size at
most 25 MB; no path information ('..', absolute names); no .pyc, no __MACOSX/.git/__pycache__ folder; a
readable ZIP (CRC); one top folder named [A-Za-z][A-Za-z0-9-_]+ holding __init__.py and metadata.txt with a
[general] section and every required field (name, description, version, qgisMinimumVersion, author, email,
about, tracker, repository); well-formed tracker/repository/homepage URLs other than the placeholders it
refuses; a LICENSE file; no slash in the author. (The validator also asks the URLs over the network; this
check does not.) Then this project's own rules: the icon and a changelog naming the version, LICENSE being
the GPL text metadata's licence names, only runtime files (no tests, bench, docs, CI, scripts, Makefile,
requirements), every module compiling.

Bandit then scans the unpacked plugin; a finding of medium or high severity found with medium or high
confidence is blocking (B615, an unpinned Hugging Face download, is one: medium/high); the others (low
severity, or low confidence such as B608's guess at SQL built from quoted identifiers) are listed.

    python3 scripts/check_package.py dist/patch_balancer-<version>.zip     (exit 1 on a blocking problem)
"""
import configparser
import io
import json
import re
import subprocess  # nosec B404 - runs bandit with this Python, arguments as a list
import sys
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

MAX_SIZE = 25_000_000
REQUIRED = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about", "tracker",
            "repository")
FORBIDDEN_URLS = {"tracker": "http://bugs", "repository": "http://repo", "homepage": "http://homepage"}
NOT_RUNTIME = ("tests/", "bench/", "docs/", ".ci/", "scripts/", "Makefile", "requirements", "constraints",
               "pytest.ini", ".gitignore", "demo_output/", "test_output/", ".qgis/", ".venv/", "dist/")


def problems_of(zip_path: Path) -> list:
    problems = []
    if zip_path.stat().st_size > MAX_SIZE:
        problems.append(f"{zip_path.stat().st_size} bytes: more than the repository's 25 MB")
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        return problems + [f"not a ZIP: {exc}"]
    with zf:
        names = zf.namelist()
        for name in names:
            if ".." in name or name.startswith("/") or name.startswith("\\"):
                problems.append(f"path information in {name!r}")
            if ".pyc" in name:
                problems.append(f"compiled file {name!r}")
            for forbidden in ("__MACOSX", ".git", "__pycache__"):
                if forbidden in name.split("/"):
                    problems.append(f"forbidden folder {forbidden!r} in {name!r}")
        bad = zf.testzip()
        if bad:
            problems.append(f"bad CRC on {bad!r}")
        tops = sorted({n.split("/")[0] for n in names})
        if len(tops) != 1 or not names or "/" not in names[0]:
            return problems + [f"expected one top folder, found {tops}"]
        top = tops[0]
        if not re.match(r"^[A-Za-z][A-Za-z0-9-_]+$", top):
            problems.append(f"top folder {top!r} does not match [A-Za-z][A-Za-z0-9-_]+")
        for required in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{top}/{required}" not in names:
                problems.append(f"no {top}/{required}")
        if problems:
            return problems
        meta = configparser.ConfigParser()
        meta.optionxform = str
        try:
            meta.read_file(io.StringIO(zf.read(f"{top}/metadata.txt").decode("utf-8")))
            general = meta["general"]
        except (configparser.Error, KeyError, UnicodeDecodeError) as exc:
            return problems + [f"metadata.txt cannot be read: {exc}"]
        for key in REQUIRED:
            if not general.get(key, "").strip():
                problems.append(f"metadata.txt: required field {key!r} is missing or empty")
        for key, placeholder in FORBIDDEN_URLS.items():
            url = general.get(key, "").strip()
            if url and (url == placeholder or not all(urlparse(url)[:2])):
                problems.append(f"metadata.txt: {key} {url!r} is not a valid URL")
        if "/" in general.get("author", ""):
            problems.append("metadata.txt: the author may not contain a slash")
        icon = general.get("icon", "").lstrip("./")
        if not icon or f"{top}/{icon}" not in names:
            problems.append(f"metadata.txt: icon {icon!r} is not in the package")
        version = general.get("version", "")
        if version not in general.get("changelog", ""):
            problems.append(f"metadata.txt: the changelog does not name version {version}")
        licence = zf.read(f"{top}/LICENSE").decode("utf-8", "replace")
        if general.get("license", "").startswith("GPL-2.0") and (
                "GNU GENERAL PUBLIC LICENSE" not in licence or "Version 2, June 1991" not in licence):
            problems.append("LICENSE is not the GPL version 2 text that metadata.txt's licence names")
        for name in names:
            inner = name[len(top) + 1:]
            if inner.startswith(NOT_RUNTIME):
                problems.append(f"not a runtime file: {name!r}")
            if name.endswith(".py"):
                try:
                    compile(zf.read(name), name, "exec")
                except SyntaxError as exc:
                    problems.append(f"{name}: {exc}")
    return problems


def bandit(zip_path: Path) -> tuple:
    """(blocking findings, low findings) of Bandit over the unpacked plugin."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)  # nosec B202 - our own package, names checked above (no '..', no absolute path)
        done = subprocess.run([sys.executable, "-m", "bandit", "-r", tmp, "-f", "json", "-q"],  # nosec B603
                              capture_output=True, text=True)
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise SystemExit(f"bandit did not run: {done.stderr or done.stdout}")
    results = [dict(r, filename=r["filename"].replace(tmp + "/", "")) for r in report.get("results", [])]
    blocking = [r for r in results if r["issue_severity"] in ("MEDIUM", "HIGH")
                and r["issue_confidence"] in ("MEDIUM", "HIGH")]
    low = [r for r in results if r not in blocking]
    return blocking, low


def describe(r: dict) -> str:
    return (f"{r['test_id']} {r['issue_severity']}/{r['issue_confidence']} {r['filename']}:{r['line_number']}: "
            f"{r['issue_text']}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__)
        return 2
    path = Path(argv[0])
    problems = problems_of(path)
    for problem in problems:
        print("PACKAGE:", problem)
    blocking, low = bandit(path) if not problems else ([], [])
    for r in blocking:
        print("BANDIT (blocking):", describe(r))
    for r in low:
        print("bandit (not blocking):", describe(r))
    with zipfile.ZipFile(path) as zf:
        count = sum(1 for n in zf.namelist() if not n.endswith("/"))
    print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB, {count} files; repository rules: "
          f"{'ok' if not problems else f'{len(problems)} problem(s)'}; bandit: {len(blocking)} blocking, "
          f"{len(low)} not blocking")
    return 1 if problems or blocking else 0


if __name__ == "__main__":
    sys.exit(main())
