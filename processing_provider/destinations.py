"""Where an algorithm's outputs go, and what is checked about them before any work starts.

No output may be the same file as an input (a raster, the class map, the input patch layer)
or as another output, and every destination must be a writable file in a writable folder:
these are refused up front, with both parameter names, rather than found out after hours of
work — or, worse, after an input was overwritten.
"""
import os
import re
from dataclasses import dataclass

from qgis.core import (
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
    QgsProcessingUtils,
)

from ..balance_core.pairing import RASTER_EXTENSIONS
from .gpkg_layers import first_layer_name

OGR_TABLE = re.compile(r"""^ogr:dbname=(['"]?)(?P<path>.+?)\1\s+table=(['"]?)(?P<table>.+?)\3(\s+\(.*\))?\s*$""")
PROVIDER_URI = re.compile(r"^[A-Za-z][A-Za-z0-9_]+:(?![\\/])")  # postgres:…, spatialite:…; not C:\… or /…
READ_AND_WRITTEN = ("EMBEDDINGS_CACHE",)  # input files a run also writes: checked like outputs
LAYER_FORMATS = (".gpkg",)  # files whose single layer a run may replace while keeping the others
# Fields a layer of each format can hold (SQLite's 2000 columns less fid and geometry).
MAX_FIELDS = {".gpkg": 1998, ".sqlite": 1998, ".db": 1998}
SHAPEFILE = ".shp"


@dataclass(frozen=True)
class Destination:
    """One output layer's destination as QGIS would write it."""

    key: str
    kind: str  # "memory", "file" (the whole file is the output), "layer" (one table of a GeoPackage), "provider"
    path: str = ""
    layer: str = ""  # the table's name in a GeoPackage
    value: object = None  # the parameter's value: its project and name say whether and how QGIS loads it

    @property
    def extension(self) -> str:
        return os.path.splitext(self.path)[1].lower()


def sink_destination(alg, parameters, key, context) -> Destination:
    value = parameters.get(key)
    probe = value
    if isinstance(value, QgsProcessingOutputLayerDefinition) and value.destinationProject is not None:
        # parameterAsOutputLayer registers its answer as a layer to load when the value names a project: a
        # "memory:Balanced patches" that QGIS cannot load ("The following layers were not correctly generated")
        probe = QgsProcessingOutputLayerDefinition(value)
        probe.destinationProject = None
    dest = alg.parameterAsOutputLayer({**parameters, key: probe}, key, context) or ""
    if not dest or dest.startswith("memory:"):
        return Destination(key, "memory", value=value)
    match = OGR_TABLE.match(dest)
    if match:
        path = os.path.abspath(match.group("path"))
        if os.path.splitext(path)[1].lower() in LAYER_FORMATS:
            return Destination(key, "layer", path, match.group("table"), value)
        return Destination(key, "provider", path, value=value)
    if PROVIDER_URI.match(dest):
        return Destination(key, "provider", value=value)
    path = os.path.abspath(dest)
    if not os.path.splitext(path)[1]:
        path += "." + QgsProcessingUtils.defaultVectorExtension()
    return Destination(key, "file", path, os.path.splitext(os.path.basename(path))[0], value)


def file_outputs(alg, parameters, context) -> list:
    """(key, absolute path) of every output file: the layer's file and each file destination given."""
    outputs = []
    for definition in alg.parameterDefinitions():
        key = definition.name()
        if isinstance(definition, QgsProcessingParameterFeatureSink):
            dest = sink_destination(alg, parameters, key, context)
            if dest.path:
                outputs.append((key, dest.path, dest))
        elif isinstance(definition, QgsProcessingParameterFileDestination):
            path = alg.parameterAsFileOutput(parameters, key, context)
            if path:
                outputs.append((key, os.path.abspath(path), None))
        elif key in READ_AND_WRITTEN:
            path = alg.parameterAsFile(parameters, key, context)
            if path:
                outputs.append((key, os.path.abspath(path), None))
    return outputs


def _split_source(source: str) -> tuple:
    """(file, layer name) of a layer source; a GeoPackage opened without a name gives its first layer."""
    path, _, options = source.partition("|")
    layer = re.search(r"layername=([^|]+)", options)
    path = os.path.abspath(path)
    if layer:
        return path, layer.group(1)
    if os.path.splitext(path)[1].lower() in LAYER_FORMATS:
        return path, first_layer_name(path)
    return path, None


def input_files(alg, parameters, context) -> list:
    """(key, absolute path, layer name or None) of every file an input parameter reads."""
    inputs = []
    for definition in alg.parameterDefinitions():
        key = definition.name()
        if definition.isDestination() or parameters.get(key) in (None, ""):
            continue
        sources = []
        if isinstance(definition, QgsProcessingParameterMultipleLayers):
            sources = [layer.source() for layer in alg.parameterAsLayerList(parameters, key, context)]
        elif isinstance(definition, (QgsProcessingParameterFeatureSource, QgsProcessingParameterVectorLayer)):
            layer = alg.parameterAsVectorLayer(parameters, key, context)
            sources = [layer.source()] if layer is not None else []
        elif isinstance(definition, (QgsProcessingParameterRasterLayer, QgsProcessingParameterMapLayer)):
            layer = alg.parameterAsLayer(parameters, key, context)
            sources = [layer.source()] if layer is not None else []
        elif isinstance(definition, QgsProcessingParameterFile):
            path = alg.parameterAsFile(parameters, key, context)
            if path and os.path.isdir(path):
                sources = [os.path.join(path, n) for n in sorted(os.listdir(path))
                           if os.path.splitext(n)[1].lower() in RASTER_EXTENSIONS]
            elif path:
                sources = [path]
        for source in sources:
            path, layer = _split_source(source)
            if os.path.exists(path):
                inputs.append((key, path, layer))
    return inputs


def _same_file(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        try:
            return os.path.samefile(a, b)
        except OSError:
            pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _label(alg, key) -> str:
    definition = alg.parameterDefinition(key)
    return f"{key} ({definition.description()})" if definition is not None else key


def _nearest_existing(folder: str) -> str:
    while folder and not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def _writable_folder(folder: str) -> bool:
    """Can a file be created here? Tried for real: permissions alone mislead (root, read-only mounts, ACLs)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".patch-balancer-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.remove(probe)
    return True


def destination_problem(alg, key: str, path: str, dest) -> str:
    tr = alg.tr
    label = _label(alg, key)
    if os.path.isdir(path):
        return tr("{} is a folder ({}); give a file name, e.g. {}.").format(
            label, path, os.path.join(path, "patches.gpkg" if dest is not None else "output" + _suffix(alg, key)))
    if dest is not None and dest.extension == SHAPEFILE:
        return tr("{}: a shapefile cuts field names to 10 characters (sampler_weight would become sampler_we) and "
                  "holds at most 255 fields; write a GeoPackage (.gpkg) instead.").format(label)
    existing = _nearest_existing(os.path.dirname(path))
    if not os.path.isdir(existing):
        return tr("{}: {} is a file, not a folder, so {} cannot be written.").format(label, existing, path)
    if not _writable_folder(existing):
        return tr("{}: the folder {} is not writable; choose another folder.").format(label, existing)
    if dest is not None and dest.kind == "layer" and os.path.exists(path) and not os.access(path, os.W_OK):
        return tr("{}: the GeoPackage {} is read-only; its layer '{}' cannot be replaced.").format(label, path, dest.layer)
    return ""


def _suffix(alg, key) -> str:
    definition = alg.parameterDefinition(key)
    extension = definition.defaultFileExtension() if hasattr(definition, "defaultFileExtension") else ""
    return "." + extension if extension else ""


def check_destinations(alg, parameters, context) -> str:
    """'' when every output can be written without touching an input or another output, else why not."""
    tr = alg.tr
    outputs = file_outputs(alg, parameters, context)
    for key, path, dest in outputs:
        problem = destination_problem(alg, key, path, dest)
        if problem:
            return problem
    for i, (key, path, _) in enumerate(outputs):
        for other_key, other_path, _ in outputs[i + 1:]:
            if _same_file(path, other_path):
                return tr("{} and {} are the same file ({}); give each output its own file.").format(
                    _label(alg, key), _label(alg, other_key), path)
    for key, path, dest in outputs:
        for in_key, in_path, in_layer in input_files(alg, parameters, context):
            if in_key == key or not _same_file(path, in_path):  # a file read and extended is not overwritten
                continue
            if dest is not None and dest.kind == "layer" and in_layer is not None and in_layer != dest.layer:
                continue  # another layer of the same GeoPackage: only the output's own layer is replaced
            what = tr("layer '{}' of ").format(in_layer) if in_layer else ""
            return tr("{} would overwrite {}{}, which {} reads; choose another output file{}.").format(
                _label(alg, key), what, path, _label(alg, in_key),
                tr(" or another layer name") if dest is not None and dest.kind == "layer" else "")
    return ""


def output_definition(dest: Destination, path: str) -> QgsProcessingOutputLayerDefinition:
    """Where the sink writes instead: the staged file, as the same layer (no project: loaded after commit)."""
    if dest.extension in LAYER_FORMATS:
        sink = "ogr:dbname='{}' table=\"{}\" (geom)".format(path, dest.layer.replace('"', '""'))
    else:
        sink = path
    definition = QgsProcessingOutputLayerDefinition(sink)
    if isinstance(dest.value, QgsProcessingOutputLayerDefinition):
        definition.createOptions = dict(dest.value.createOptions)
    return definition
