#!/usr/bin/env python3
"""`make package`: dist/patch_balancer-<version>.zip, the plugin as the QGIS plugin repository takes it.

One top folder `patch_balancer/` holding only what runs in QGIS: the plugin modules (__init__.py, plugin.py,
dependency_installer.py, balance_core/, processing_provider/, ui/), the Graphical Modeler model, metadata.txt
(with its changelog), LICENSE and the icon. No tests, benchmarks, docs images, CI, scripts, Makefile or dev
requirements, no __pycache__/*.pyc. Files are those git knows (tracked or new, not ignored), in sorted order
with a fixed timestamp, so the same sources give the same ZIP byte for byte.

    python3 scripts/package.py [--out dist]     → prints the ZIP's path
"""
import argparse
import configparser
import os
import subprocess  # nosec B404 - git ls-files, arguments as a list
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "patch_balancer"
TOP_FILES = ("__init__.py", "plugin.py", "dependency_installer.py", "metadata.txt", "LICENSE", "icon.svg")
TOP_FOLDERS = ("balance_core", "processing_provider", "ui", "models")
SUFFIXES = (".py", ".svg", ".png", ".model3", ".qml", ".txt", ".json")
EXCLUDED_PARTS = ("__pycache__", "tests", ".git")
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def version() -> str:
    meta = configparser.ConfigParser()
    meta.optionxform = str
    meta.read(REPO / "metadata.txt", encoding="utf-8")
    return meta["general"]["version"]


def candidate_files() -> list:
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # nosec
                                cwd=REPO, capture_output=True, check=True).stdout.decode("utf-8").split("\0")
        files = [f for f in listed if f and (REPO / f).is_file()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the folders
        files = [str(p.relative_to(REPO)).replace(os.sep, "/") for p in REPO.rglob("*") if p.is_file()]
    return sorted(set(files))


def runtime_files() -> list:
    keep = []
    for name in candidate_files():
        parts = name.split("/")
        if any(part in EXCLUDED_PARTS or part.endswith(".pyc") for part in parts):
            continue
        if len(parts) == 1 and name in TOP_FILES:
            keep.append(name)
        elif parts[0] in TOP_FOLDERS and name.endswith(SUFFIXES):
            keep.append(name)
    missing = [f for f in TOP_FILES if f not in keep]
    if missing:
        raise SystemExit(f"package: missing {', '.join(missing)}")
    return keep


def build(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{PACKAGE}-{version()}.zip"
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        folders = set()
        for name in runtime_files():
            for depth in range(1, name.count("/") + 1):
                folders.add("/".join(name.split("/")[:depth]))
        for folder in sorted(folders | {""}):
            info = zipfile.ZipInfo(f"{PACKAGE}/{folder}/" if folder else f"{PACKAGE}/", FIXED_TIME)
            info.external_attr = (0o40755 << 16) | 0x10
            zf.writestr(info, b"")
        for name in runtime_files():
            info = zipfile.ZipInfo(f"{PACKAGE}/{name}", FIXED_TIME)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (REPO / name).read_bytes())
    os.replace(partial, target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "dist"))
    args = parser.parse_args(argv)
    path = build(Path(args.out))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
