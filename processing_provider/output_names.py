"""Names of the outputs in the Layers panel and the Processing Results Viewer, as QGIS names outputs.

QGIS names an output layer after its file when the user prefers it (Settings › Options › Processing ›
General › *Prefer output filename for layer names*, on by default), else after the output's
description ("Balanced patches"); a temporary layer always gets the description. A description alone
cannot tell two runs apart, so where QGIS would use it the plugin adds what differs between runs:
the output file (when the user does not want file names) or the input the run read (a temporary
layer), and a number when the project already holds that name. A name the user or a model gave
(a model output's name) is kept. The HTML report's entry in the Results Viewer follows the same rule.
"""
from __future__ import annotations

import os
import threading

from qgis.core import QgsProcessingUtils, QgsProviderRegistry, QgsSettings

PREFER_FILENAME_KEY = "Processing/Configuration/PREFER_FILENAME_AS_LAYER_NAME"
SEPARATOR = " — "


def prefer_file_name() -> bool:
    """QGIS's setting *Prefer output filename for layer names* (default: yes)."""
    value = QgsSettings().value(PREFER_FILENAME_KEY, True)
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")


def source_label(provider: str, source: str) -> str:
    """A data source's own name: its layer inside a GeoPackage, else its file name without extension."""
    parts = QgsProviderRegistry.instance().decodeUri(provider, source)
    path = parts.get("path") or ""
    return parts.get("layerName") or (os.path.splitext(os.path.basename(path))[0] if path else "")


def path_label(path: str) -> str:
    """A file's name without folder and extension, '' for a file in QGIS's temporary folder."""
    if not path or _is_temporary(path):
        return ""
    return os.path.splitext(os.path.basename(path))[0]


def _is_temporary(path: str) -> bool:
    """A file in QGIS Processing's temporary folder (a TEMPORARY_OUTPUT file)."""
    if not path:
        return False
    temporary = os.path.normcase(os.path.abspath(QgsProcessingUtils.tempFolder()))
    folder = os.path.normcase(os.path.abspath(os.path.dirname(path)))
    return folder == temporary or folder.startswith(os.path.dirname(temporary) + os.sep + "processing_")


def input_label(alg, parameters, context) -> str:
    """What a run read, in a few words: the first image (+ how many more), the image folder, or the input layer."""
    try:
        if alg.parameterDefinition("IMAGE") is not None and parameters.get("IMAGE"):
            layers = alg.parameterAsLayerList(parameters, "IMAGE", context)
            if layers:
                first = source_label(layers[0].providerType(), layers[0].source()) or layers[0].name()
                return first + (f" +{len(layers) - 1}" if len(layers) > 1 else "")
        if alg.parameterDefinition("IMAGE_FOLDER") is not None:
            folder = alg.parameterAsFile(parameters, "IMAGE_FOLDER", context)
            if folder:
                return os.path.basename(os.path.normpath(folder))
        if alg.parameterDefinition("INPUT") is not None:
            layer = alg.parameterAsVectorLayer(parameters, "INPUT", context)
            if layer is not None:
                return layer.name()  # as the Layers panel shows it (a file loaded by path: its file name)
    except Exception:  # noqa: BLE001 - a name is a nicety: an unreadable parameter must not stop the run
        return ""
    return ""


def distinct(name: str, taken) -> str:
    """`name`, or `name (2)`, `name (3)`, … when it is taken."""
    taken = set(taken)
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def output_layer_name(layer, description: str, run_label: str, project) -> str | None:
    """The name a loaded output layer should get, or None to keep the one QGIS (or the user) gave it."""
    current = layer.name()
    if current and current != description:
        return None  # named after its file (the user's setting), or named by the user or a model
    label = "" if layer.providerType() == "memory" else source_label(layer.providerType(), layer.source())
    if label and _is_temporary(QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source()).get(
            "path") or ""):
        label = ""  # Processing's own temporary file: its name means nothing
    label = label or run_label
    name = f"{description}{SEPARATOR}{label}" if label and label != description else description
    taken = [other.name() for other in project.mapLayers().values() if other is not layer] if project else []
    return distinct(name, taken)


def report_name(description: str, path: str, run_label: str, taken) -> str:
    """The Results Viewer entry of an HTML output: its file name when preferred, else description — label."""
    stem = path_label(path)
    if prefer_file_name() and stem:
        return distinct(stem, taken)
    label = stem or run_label
    return distinct(f"{description}{SEPARATOR}{label}" if label else description, taken)


# --- the Results Viewer ------------------------------------------------------------------------------
# QGIS's algorithm dialog adds an HTML output to the Results Viewer under its description, after the run's
# post-processing, on the main thread. The run registers the name it wants here (from any thread); the
# post-processing schedules `rename_results` for right after the dialog has added the entry.

_pending: dict = {}  # report path → (description, run label)
_lock = threading.Lock()


def name_report_later(path: str, description: str, run_label: str) -> None:
    with _lock:
        _pending[os.path.normcase(os.path.abspath(path))] = (description, run_label)


def rename_results() -> int:
    """Rename the Results Viewer entries of the registered reports; returns how many were renamed."""
    with _lock:
        pending = dict(_pending)
        _pending.clear()
    try:
        from processing.core.ProcessingResults import resultsList
    except ImportError:  # no Processing plugin (e.g. a bare script): no Results Viewer to name entries in
        return 0
    results = resultsList.getResults()
    renamed = 0
    for result in results:
        key = os.path.normcase(os.path.abspath(str(result.filename or "")))
        if key in pending and result.name == pending[key][0]:
            description, label = pending.pop(key)
            taken = [r.name for r in results if r is not result]
            result.name = report_name(description, str(result.filename), label, taken)
            renamed += 1
    if renamed:
        resultsList.resultAdded.emit()  # the Results Viewer redraws its list
    return renamed
