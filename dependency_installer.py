"""Installs the plugin's optional Python packages into a folder the plugin owns (no QGIS or Qt here).

*Plugins › Patch Balancer › Install dependencies…* (ui/dependencies_dialog.py) and the tests call the same
`install()`: QGIS's own Python runs `pip install --target <folder>` for the chosen groups
(balance_core/dependencies.py), with numpy pinned to the version QGIS already has (numpy 2 breaks the
GDAL bindings QGIS was built with, and a second numpy would shadow or be shadowed by QGIS's). The folder is
per QGIS profile and per Python version (a QGIS upgrade to a new Python starts an empty one), outside the
plugin folder (a plugin update replaces that), and goes at the end of `sys.path` when the plugin starts
(`activate()`), so what QGIS ships always wins. numpy itself is removed from the folder after the install:
QGIS's copy, of the same version, is the one loaded.

Offline: pip's "cannot reach the index" failures are recognised and answered with the way round
(`pip download` elsewhere, then install from that folder of wheels: `wheel_dir`).
"""
import importlib
import os
import re
import shutil
import subprocess  # nosec B404 - runs QGIS's own Python with pip, arguments as a list, never a shell
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

try:  # inside the plugin package
    from .balance_core.dependencies import GROUPS, Group, group, importable
except ImportError:  # pragma: no cover - loaded as a top-level module (tests, command line)
    from balance_core.dependencies import GROUPS, Group, group, importable

ENV_FOLDER = "PATCH_BALANCER_DEPENDENCIES"  # overrides the folder (administrators, tests)
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # Linux: torch's CPU build (PyPI's pulls CUDA, GBs)
OFFLINE_SIGNS = ("Failed to establish a new connection", "Temporary failure in name resolution",
                 "NewConnectionError", "Network is unreachable", "ConnectTimeoutError", "ProxyError",
                 "Name or service not known", "getaddrinfo failed", "No route to host",
                 "Could not fetch URL", "connection broken", "SSLError", "ReadTimeoutError")
NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console window flashing up over QGIS
SKIPPED_FROM_FOLDER = ("numpy",)  # QGIS's own copy (same version: pinned) is the one imported


def folder_for(profile_dir: str) -> str:
    """The plugin's package folder for this QGIS profile and this Python version."""
    override = os.environ.get(ENV_FOLDER, "").strip()
    if override:
        return os.path.abspath(override)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return os.path.join(os.path.abspath(profile_dir), "patch_balancer", "site-packages", version)


def activate(folder: str) -> bool:
    """Put the folder at the end of sys.path (if it exists); True when it is there."""
    if not folder or not os.path.isdir(folder):
        return False
    if folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()
    return True


def where_found(module: str) -> Optional[str]:
    """The folder a module would be imported from, or None when it is missing."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:  # a package: its folder's parent
        return os.path.dirname(os.path.abspath(next(iter(spec.submodule_search_locations))))
    return os.path.dirname(os.path.abspath(spec.origin)) if spec.origin else ""  # a single module file


@dataclass
class GroupStatus:
    group: Group
    present: dict  # import name -> bool
    in_folder: dict  # import name -> bool (found in the plugin's folder)

    @property
    def complete(self) -> bool:
        return all(self.present.values())


def status(folder: str) -> List[GroupStatus]:
    """Per installer group: which of its packages import here, and which come from the plugin's folder."""
    importlib.invalidate_caches()
    out = []
    real = os.path.realpath(folder) if folder else None
    for g in GROUPS:
        present = {m: importable(m) for m in g.modules}
        in_folder = {m: bool(real and present[m] and os.path.realpath(where_found(m) or "") == real)
                     for m in g.modules}
        out.append(GroupStatus(g, present, in_folder))
    return out


def python_executable() -> str:
    """QGIS's own Python interpreter. Inside QGIS `sys.executable` is often QGIS itself (qgis.exe, QGIS.app),
    so look beside the running Python's prefix for a python binary of the same version."""
    major, minor = sys.version_info[:2]
    names = [f"python{major}.{minor}", f"python{major}", "python"]
    candidates = []
    for exe in (getattr(sys, "_base_executable", ""), sys.executable):
        if exe and os.path.basename(exe).lower().startswith("python"):
            candidates.append(exe)
    for prefix in dict.fromkeys((sys.exec_prefix, sys.prefix, getattr(sys, "base_prefix", sys.prefix))):
        for sub in ("", "bin", "Scripts"):
            for name in names:
                candidates += [os.path.join(prefix, sub, name), os.path.join(prefix, sub, name + ".exe")]
    candidates += [shutil.which(n) or "" for n in names]
    for exe in candidates:
        if exe and os.path.isfile(exe) and _same_python(exe):
            return exe
    raise InstallError(
        f"Cannot find QGIS's Python interpreter (Python {major}.{minor}) beside {sys.exec_prefix!r}; install the "
        "packages from the OSGeo4W Shell (Windows) or a terminal with that Python: "
        "`python -m pip install --target <folder shown in the dialog> <packages>`.")


_checked = {}


def _same_python(exe: str) -> bool:
    if exe not in _checked:
        try:
            done = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],  # nosec B603
                                  capture_output=True, text=True, timeout=60, env=_clean_env(), creationflags=NO_WINDOW)
            _checked[exe] = done.returncode == 0 and done.stdout.strip() == "%d.%d" % sys.version_info[:2]
        except (OSError, subprocess.SubprocessError):
            _checked[exe] = False
    return _checked[exe]


def _clean_env() -> dict:
    env = dict(os.environ)  # QGIS's own (PYTHONHOME on Windows); pip --target ignores what is installed
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    return env


class InstallError(Exception):
    """The installation could not start or failed; the message says why and what to do."""


@dataclass
class InstallResult:
    ok: bool
    message: str
    log: List[str] = field(default_factory=list)
    cancelled: bool = False
    offline: bool = False


def pip_commands(groups: Sequence[str], folder: str, constraints: str, python: str,
                 wheel_dir: Optional[str] = None) -> List[List[str]]:
    """The pip command lines for these groups (a group with optional parts: one line per requirement)."""
    base = [python, "-m", "pip", "install", "--no-input", "--upgrade", "--target", folder,
            "--constraint", constraints, "--only-binary", ":all:", "--timeout", "20", "--retries", "2"]
    if wheel_dir:
        base += ["--no-index", "--find-links", wheel_dir]
    commands = []
    for key in groups:
        g = group(key)
        extra = []
        if key == "uniqueness" and sys.platform.startswith("linux") and not wheel_dir:
            extra = ["--extra-index-url", PYTORCH_CPU_INDEX]
        if g.one_by_one:
            commands += [base + extra + [req] for req in g.requirements]
        else:
            commands.append(base + extra + list(g.requirements))
    return commands


def numpy_pin() -> str:
    import numpy

    return f"numpy=={numpy.__version__}\n"


def install(groups: Sequence[str], folder: str, log: Callable[[str], None] = lambda line: None,
            cancelled: Callable[[], bool] = lambda: False, wheel_dir: Optional[str] = None,
            python: Optional[str] = None) -> InstallResult:
    """Install the groups into `folder` with QGIS's Python and pip; numpy stays QGIS's. Never raises for a
    failed install: the result says what happened and what to do."""
    lines: List[str] = []

    def say(line: str) -> None:
        lines.append(line)
        log(line)

    try:
        python = python or python_executable()
    except InstallError as exc:
        return InstallResult(False, str(exc), lines)
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="patch_balancer_pip_") as tmp:
        constraints = os.path.join(tmp, "constraints.txt")
        with open(constraints, "w", encoding="utf-8") as fh:
            fh.write(numpy_pin())  # QGIS's numpy: what its GDAL bindings (and the rest) were built with
        failed_optional = []
        for command in pip_commands(groups, folder, constraints, python, wheel_dir):
            say("$ " + " ".join(command))
            code = _run(command, say, cancelled)
            if code is None:
                return InstallResult(False, "Cancelled: nothing more is installed; packages already copied stay "
                                     "in the folder and are used at the next start.", lines, cancelled=True)
            if code != 0:
                text = "\n".join(lines)
                offline = any(sign.lower() in text.lower() for sign in OFFLINE_SIGNS)
                if "No module named pip" in text:
                    return InstallResult(False, "QGIS's Python has no pip. Install pip for it (Windows: OSGeo4W "
                                         "Setup › python3-pip; Linux: python3-pip) and try again.", lines)
                if offline:
                    return InstallResult(False, offline_message(groups, folder), lines, offline=True)
                requirement = command[-1]
                if any(group(k).one_by_one and requirement in group(k).requirements for k in groups):
                    failed_optional.append(requirement)  # e.g. no wheel of hnswlib for this platform
                    continue
                return InstallResult(False, f"pip failed (exit code {code}); the log says why. Nothing QGIS "
                                     "ships was changed.", lines)
        _drop_shipped(folder, say)
        activate(folder)
    missing = [m for k in groups for m in group(k).modules if not importable(m)]
    wanted = [r for k in groups for r in group(k).requirements]
    if failed_optional and len(failed_optional) == len(wanted):
        return InstallResult(False, f"None of {', '.join(failed_optional)} could be installed: pip found no wheel "
                             "for this system and Python (or none in the folder of wheels); the log says more.", lines)
    note = f" Not available for this platform: {', '.join(failed_optional)}." if failed_optional else ""
    if missing and not failed_optional:
        return InstallResult(False, f"pip finished but {', '.join(missing)} still cannot be found; restart QGIS "
                             "and open this dialog again.", lines)
    return InstallResult(True, f"Installed into {folder}.{note} The plugin uses them now; a package that was "
                         "already loaded in an older version is replaced at the next start of QGIS.", lines)


def offline_message(groups: Sequence[str], folder: str) -> str:
    reqs = " ".join(f'"{r}"' for k in groups for r in group(k).requirements)
    return ("The package index cannot be reached from this computer (offline, or a proxy in the way: pip reads "
            "HTTPS_PROXY). On a computer with internet and the same system and Python version, download the "
            f"wheels: `python -m pip download --only-binary :all: -d wheels {reqs}`, copy the 'wheels' folder "
            "here and choose it as 'From a folder of wheels' in this dialog.")


def _run(command: List[str], say: Callable[[str], None], cancelled: Callable[[], bool]) -> Optional[int]:
    """Run one command, streaming its output; None when cancelled (the process is ended)."""
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # nosec B603
                                   stdin=subprocess.DEVNULL, text=True, errors="replace", env=_clean_env(),
                                   creationflags=NO_WINDOW)
    except OSError as exc:
        say(f"Cannot start {command[0]!r}: {exc}")
        return 1
    reader = threading.Thread(target=lambda: [say(line.rstrip()) for line in process.stdout], daemon=True)
    reader.start()
    while process.poll() is None:
        if cancelled():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            reader.join(timeout=5)
            say("Cancelled.")
            return None
        time.sleep(0.1)
    reader.join(timeout=10)
    return process.returncode


def _drop_shipped(folder: str, say: Callable[[str], None]) -> None:
    """Remove from the folder what QGIS ships (numpy, installed there as a pinned dependency)."""
    for name in os.listdir(folder):
        base = re.split(r"[-.]", name, maxsplit=1)[0].lower()
        if base in SKIPPED_FROM_FOLDER:
            path = os.path.join(folder, name)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
    bin_dir = os.path.join(folder, "bin")
    if os.path.isdir(bin_dir):
        for name in os.listdir(bin_dir):
            if name.startswith("f2py"):
                os.remove(os.path.join(bin_dir, name))
    say("numpy left to QGIS's own copy (same version).")
