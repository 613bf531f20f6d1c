"""The plugin's parameters, in groups the algorithms share, and one reader that turns them into settings.

Every algorithm adds the groups it needs; `read_config` reads whichever of them the
algorithm has, so the step algorithms and the one-shot read a key the same way.
"""
import math
import os
import traceback

from qgis.core import (
    Qgis,
    QgsMessageLog,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingOutputFile,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QVariant

from ..balance_core.config import KNN_BACKENDS, MODES, PRECISIONS, SAMPLING_METHODS, BalanceConfig
from ..balance_core.dinov2 import ALIASES
from ..balance_core.errors import BalanceError
from ..balance_core.legend import read_class_map
from ..balance_core.pairing import pair_by_name, pair_by_order, pair_folders
from .patch_layer import safe_source_name

Integer, Double = QgsProcessingParameterNumber.Integer, QgsProcessingParameterNumber.Double
METHOD_CHOICES = ("",) + SAMPLING_METHODS  # "" = the default for the signals at hand
DEVICES = ("auto", "cpu", "cuda")
PAIRINGS = ("name", "order")
AOI_MODES = ("intersects", "within")


def add(alg, param, help_text, advanced=False):
    param.setHelp(alg.tr(help_text))
    if advanced:
        param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    alg.addParameter(param)


def _optional_number(alg, key, label, kind, minimum=None, maximum=None, default=None):
    param = QgsProcessingParameterNumber(key, alg.tr(label), kind, default, optional=True)
    if minimum is not None:
        param.setMinimum(minimum)
    if maximum is not None:
        param.setMaximum(maximum)
    return param


# --- raster pairs ------------------------------------------------------------------------------

def add_raster_inputs(alg):
    tr = alg.tr
    add(alg, QgsProcessingParameterMultipleLayers("IMAGE", tr("Image raster(s)"), QgsProcessing.TypeRaster, optional=True),
        "The imagery the model will see: one raster or several tiles (or use the image folder). Gives the patch "
        "grid, the CRS (all rasters must share one) and the black-border check.")
    add(alg, QgsProcessingParameterMultipleLayers("MASK", tr("Label mask raster(s)"), QgsProcessing.TypeRaster, optional=True),
        "Integer class labels, one mask per image, each on exactly its image's pixel grid (same CRS, size, origin "
        "and pixel size). Band 1 is read. Rasters may differ in size between pairs.")
    add(alg, QgsProcessingParameterEnum("PAIRING", tr("Pair images and masks by"), options=[
            tr("File name"), tr("Order in the lists")], defaultValue=0),
        "By file name: names must be equal once folder, extension and words like image/rgb/mask/label are removed "
        "(tile_07_rgb.tif ↔ tile_07_mask.tif); "
        "a single image and a single mask always pair. By order: the n-th image goes with the n-th mask.")
    add(alg, QgsProcessingParameterFile("IMAGE_FOLDER", tr("Image folder"),
                                        QgsProcessingParameterFile.Folder, optional=True),
        "Instead of the image list: every raster file (.tif, .tiff, .vrt, .img, .jp2, .png) in this folder is an "
        "image; masks come from the mask folder and pair by file name.")
    add(alg, QgsProcessingParameterFile("MASK_FOLDER", tr("Mask folder"),
                                        QgsProcessingParameterFile.Folder, optional=True),
        "Instead of the mask list: the folder holding one mask per image of the image folder, paired by file name.")


def _layer_paths(alg, parameters, key, context, role):
    layers = alg.parameterAsLayerList(parameters, key, context)
    paths = []
    for layer in layers:
        if layer.providerType() != "gdal":
            raise QgsProcessingException(alg.tr(
                "The {} raster must be a file read by GDAL (e.g. a GeoTIFF); '{}' comes from the '{}' provider."
            ).format(role, safe_source_name(layer.name()), layer.providerType()))
        paths.append(layer.source())
    return layers, paths


def check_all_loaded(alg, parameters, key, context, role):
    """A raster that cannot be loaded would silently drop out of the list; name it instead."""
    raw = parameters.get(key)
    if not raw:
        return
    raw = raw if isinstance(raw, (list, tuple)) else [raw]
    loaded = alg.parameterAsLayerList(parameters, key, context)
    if len(loaded) < len(raw):
        sources = {layer.source() for layer in loaded} | {layer.id() for layer in loaded}
        missing = [str(r) for r in raw if isinstance(r, str) and r not in sources] or [str(r) for r in raw]
        raise QgsProcessingException(alg.tr("{} of {} {} raster(s) ({}) could not be loaded: {}").format(
            len(raw) - len(loaded), len(raw), role, key, ", ".join(safe_source_name(m) for m in missing[:5])))


def raster_pairs(alg, parameters, context):
    """[(image_path, mask_path)] and the mask layers (for their renderers' class names)."""
    image_folder = alg.parameterAsFile(parameters, "IMAGE_FOLDER", context)
    mask_folder = alg.parameterAsFile(parameters, "MASK_FOLDER", context)
    for key, role in (("IMAGE", "image"), ("MASK", "mask")):
        check_all_loaded(alg, parameters, key, context, role)
    _, images = _layer_paths(alg, parameters, "IMAGE", context, "image")
    mask_layers, masks = _layer_paths(alg, parameters, "MASK", context, "mask")
    try:
        if image_folder or mask_folder:
            if not (image_folder and mask_folder):
                raise QgsProcessingException(alg.tr("Give both an image folder and a mask folder, or neither."))
            if images or masks:
                raise QgsProcessingException(alg.tr("Give rasters as lists or as folders, not both."))
            return pair_folders(image_folder, mask_folder), []
        if not images or not masks:
            raise QgsProcessingException(alg.tr(
                "Give the image raster(s) and the label mask raster(s), or an image folder and a mask folder."))
        pairing = PAIRINGS[alg.parameterAsEnum(parameters, "PAIRING", context)]
        pairs = pair_by_order(images, masks) if pairing == "order" else pair_by_name(images, masks)
    except BalanceError as exc:
        raise QgsProcessingException(str(exc)) from exc
    return pairs, mask_layers


# --- groups of settings ------------------------------------------------------------------------

def add_grid_params(alg):
    tr = alg.tr
    add(alg, QgsProcessingParameterNumber("PATCH_SIZE", tr("Patch size (pixels)"), Integer, 256, minValue=1),
        "Side of the square patches, in pixels. Only full patches are made: a patch never reaches past the raster edge.")
    add(alg, QgsProcessingParameterNumber("STRIDE", tr("Stride (pixels, 0 = patch size)"), Integer, 0, minValue=0),
        "Step between patch origins. 0 tiles without overlap; smaller than the patch size gives overlapping patches.")


def add_aoi_params(alg):
    tr = alg.tr
    add(alg, QgsProcessingParameterFeatureSource("AOI", tr("Area of interest"), [QgsProcessing.TypeVectorPolygon], optional=True),
        "Optional polygons (any CRS): only patches in this area are kept. Patch ids stay those of the full grid.")
    add(alg, QgsProcessingParameterEnum("AOI_MODE", tr("Keep patches that"), options=[
            tr("intersect the area"), tr("lie inside the area")], defaultValue=0),
        "Intersect: any overlap keeps a patch. Inside: only patches wholly within the area are kept.")


def add_composition_params(alg):
    tr = alg.tr
    add(alg, _optional_number(alg, "NODATA", "Mask nodata value", Integer),
        "Mask value meaning 'no label'. Empty uses the mask band's nodata value. Class 0 is an ordinary class unless you name it here.")
    add(alg, QgsProcessingParameterBoolean("IGNORE_BAND_NODATA", tr("Ignore the mask's own nodata value"), False),
        "Tick for masks that wrongly declare their background class as nodata: that value then counts as a class.")
    add(alg, QgsProcessingParameterBoolean("EXCLUDE_BORDER_NODATA", tr("Exclude patches with border nodata"), True),
        "Excludes a patch when any mask pixel on its border is nodata (typically the edge of the labelled area).")
    add(alg, QgsProcessingParameterBoolean("EXCLUDE_BLACK_BORDER", tr("Exclude patches with a black border"), True),
        "Excludes a patch when any image pixel on its border is black in every band (a collar outside the scene).")
    add(alg, QgsProcessingParameterNumber("BLACK_TOLERANCE", tr("Black tolerance"), Double, 0.0, minValue=0.0),
        "A pixel is black when every band is at most this value.")
    add(alg, QgsProcessingParameterBoolean("EXCLUDE_IMAGE_NODATA", tr("Exclude patches with image nodata"), True),
        "Excludes a patch when any of its image pixels is nodata: NaN, or the value the image band declares as "
        "nodata, in any band (QGIS draws such pixels transparent). A hole in the image is not 'visually unique'. "
        "Unticked, such pixels are embedded as 0 (black).")
    add(alg, _optional_number(alg, "MIN_ENTROPY", "Minimum class entropy", Double, 0.0),
        "Excludes patches whose class entropy (in nats) is below this value (0 = a single class). Empty keeps all.")
    add(alg, _optional_number(alg, "MAX_NODATA_RATIO", "Maximum nodata ratio", Double, 0.0, 1.0),
        "Excludes patches whose share of nodata pixels (0–1) is above this value; empty keeps all. Patches with no "
        "labelled pixel are always excluded.")


def add_dask_param(alg):
    add(alg, QgsProcessingParameterString("DASK_SCHEDULER", alg.tr("Dask scheduler address"), optional=True),
        "Empty: everything runs on this computer. An address such as tcp://10.0.0.5:8786: reading the rasters "
        "(class composition, image embeddings) runs as one task per raster pair on that Dask cluster, and the "
        "weights are computed here; the result is the same. The workers need Python with numpy and GDAL (torch "
        "and transformers for DINOv2) and must see the rasters under the same paths.", advanced=True)


def add_class_map_param(alg):
    add(alg, QgsProcessingParameterFile("CLASS_MAP", alg.tr("Class names and colours"), extension="", optional=True),
        "Optional text file, one class per line: value,name,#rrggbb (or QGIS's exported colour map: "
        "value,r,g,b,alpha,label). Without it, names and colours come from the mask layer's paletted / unique-values "
        "style, the mask file's attribute table or colour table, or the input patch layer. Used in field aliases, "
        "the report and the dock.")


def add_mode_param(alg):
    add(alg, QgsProcessingParameterEnum("MODE", alg.tr("Signals"), options=[
            alg.tr("Masks only: class composition"),
            alg.tr("Embeddings only: visual uniqueness"),
            alg.tr("Both: composition and uniqueness")], defaultValue=0),
        "Masks only needs no model and is fast. Embeddings compute an image embedding per included patch "
        "(DINOv2 on a CPU: tens of patches per second) and need torch and transformers, or the 'descriptor' embedder.")


def add_cluster_params(alg):
    tr = alg.tr
    add(alg, QgsProcessingParameterNumber("K_MIN", tr("Minimum number of clusters"), Integer, 4, minValue=1),
        "Smallest K tried by the elbow search over the composition clusters.")
    add(alg, QgsProcessingParameterNumber("K_MAX", tr("Maximum number of clusters"), Integer, 16, minValue=1),
        "Largest K tried by the elbow search. K never exceeds the number of distinct compositions.")
    add(alg, QgsProcessingParameterNumber("K", tr("Fixed number of clusters (0 = elbow)"), Integer, 0, minValue=0),
        "Use exactly this K instead of the elbow of the inertia curve.")
    add(alg, QgsProcessingParameterNumber("SEED", tr("Random seed"), Integer, 42, minValue=0),
        "Starting point of KMeans's random choices (and of the approximate neighbour search): the same inputs and "
        "number give the same weights.")


def add_target_params(alg):
    """TARGET and BALANCE_STRENGTH: where class_balance takes the class shares (the weights step and the planner)."""
    tr = alg.tr
    add(alg, QgsProcessingParameterString("TARGET", tr("Target class shares"), defaultValue="uniform"),
        "class_balance only. uniform: equal shares for the classes present; sqrt: shares in proportion to the "
        "square root of the raw shares (a gentler target); or per class, value:share pairs such as 1:0.3,2:0.2 "
        "(classes not listed share "
        "the rest in proportion to their raw shares). When the cap does not let a class reach its target, the "
        "weights get as close as any weights can and the log names the classes that limit the balance.")
    add(alg, QgsProcessingParameterNumber("BALANCE_STRENGTH", tr("Balance strength (0–1)"),
                                          Double, 1.0, minValue=0.0, maxValue=1.0),
        "How far class_balance moves the class shares from the raw ones towards the target (geometrically): "
        "0 keeps the raw shares, 0.5 goes half way on a log scale, 1 aims at the target.")


def add_weight_params(alg):
    tr = alg.tr
    add(alg, QgsProcessingParameterEnum("SAMPLING_METHOD", tr("Sampling method"), options=[
            tr("default (class_balance)")] + list(SAMPLING_METHODS),
            defaultValue=0),
        "default: class_balance whenever class composition is computed, else uniqueness_only. class_balance: weights set so that the class shares "
        "of the labelled pixels one epoch draws reach the target below, under the oversampling cap, as close as "
        "possible to equal weights (or, with visual uniqueness, to weights that favour unique patches). "
        "For comparison: repeat_factor (LVIS repeat-factor sampling: a patch is repeated √(threshold / share of "
        "patches holding its rarest class) times), sqrt_inverse_freq (Σ over classes of √(fraction / mean fraction)), "
        "and the rank methods, on tie-aware percentile ranks among included patches: rank_max = max of the "
        "composition and uniqueness ranks, rank_multiply = product, rank_add = mean, multiplicative = product of "
        "the raw scores, composition_only, uniqueness_only. The rank methods never draw a patch much more than "
        "twice as often as average. A method needing a signal that is not computed is refused before any work.")
    add_target_params(alg)
    add(alg, QgsProcessingParameterNumber("RFS_THRESHOLD", tr("Repeat-factor threshold"), Double, 0.3,
                                          minValue=0.0001, maxValue=1.0),
        "repeat_factor only: classes held by more than this fraction of the patches are not repeated.", advanced=True)
    add(alg, _optional_number(alg, "MAX_OVERSAMPLING", "Oversampling cap", Double, 1.0),
        "No patch is drawn more than this many times as often as the average patch. Empty: 5 for class_balance, "
        "no cap for the other methods. Weights are capped and scaled so that their mean over all rows is 1: each "
        "weight is then the patch's expected draws per epoch of WeightedRandomSampler(num_samples = number of rows). "
        "A larger cap lets rare classes be drawn more, at the cost of seeing the same few patches more often.")


def add_embedding_params(alg):
    tr = alg.tr
    add(alg, QgsProcessingParameterString("EMBEDDER", tr("Embedder"), defaultValue="dinov2-small"),
        "dinov2-small, dinov2-base or dinov2-large (facebook/dinov2-* on Hugging Face, downloaded once), "
        "any Hugging Face model id, a local model folder (offline use: config.json + model.safetensors), "
        "or 'descriptor': a weights-free colour/texture/layout descriptor — fast, but less semantic than DINOv2.")
    add(alg, QgsProcessingParameterString("BANDS", tr("Image bands (e.g. 4,3,2)"), optional=True),
        "The bands the embedder sees: one band (shown as grey) or three bands (as red, green, blue), 1-based, comma-separated. Empty: the first "
        "three, or band 1 for a one-band image. Non-8-bit bands are scaled by their 2nd–98th percentiles per image.",
        advanced=True)
    add(alg, QgsProcessingParameterNumber("BATCH_SIZE", tr("Batch size"), Integer, 32, minValue=1),
        "Patches embedded at once. Larger is faster on a GPU; on a CPU 16–64 is enough.", advanced=True)
    add(alg, QgsProcessingParameterEnum("DEVICE", tr("Device"), options=list(DEVICES), defaultValue=0),
        "auto uses a CUDA GPU when torch sees one, else the CPU.", advanced=True)
    add(alg, QgsProcessingParameterEnum("PRECISION", tr("Precision"), options=list(PRECISIONS), defaultValue=0),
        "auto computes in bfloat16 where the device does so natively (recent GPUs; CPUs with AVX512-BF16 "
        "or AMX, about twice as fast), else float32. fp32 reproduces the plain transformers forward exactly.",
        advanced=True)
    add(alg, QgsProcessingParameterNumber("K_NEIGHBORS", tr("Neighbours for uniqueness (k)"), Integer, 5, minValue=1),
        "Uniqueness is the mean cosine distance to this many nearest included patches (itself excluded), over the "
        "whole dataset.")
    add(alg, QgsProcessingParameterEnum("KNN_BACKEND", tr("Nearest-neighbour search"), options=list(KNN_BACKENDS), defaultValue=0),
        "auto: exact up to 20,000 patches, hnsw above. exact = blocked matrix product; hnsw = approximate "
        "graph search (hnswlib) with exact re-ranking; sklearn = scikit-learn brute force; faiss = when installed.",
        advanced=True)
    # Read and written: an input file (the dialog would show an output as "[Skip output]"), checked as an output too
    add(alg, QgsProcessingParameterFile("EMBEDDINGS_CACHE", tr("Embeddings cache (Parquet)"),
                                        QgsProcessingParameterFile.File, fileFilter=tr("Parquet files (*.parquet);;All files (*)"),
                                        optional=True),
        "Optional. A Parquet file that keeps the embeddings between runs: an existing cache is read and extended, "
        "never overwritten (patches already embedded with the same model, bands and scaling are read instead of "
        "computed; rows for other models or windows are kept, never matched). To start one, type the name of a new "
        ".parquet file: it is created.")
    alg.addOutput(QgsProcessingOutputFile("EMBEDDINGS_CACHE", tr("Embeddings cache (Parquet)")))


def add_external_embeddings_param(alg):
    """EXTERNAL_EMBEDDINGS: embeddings computed elsewhere, used instead of the embedder (balance_core.external_embeddings)."""
    add(alg, QgsProcessingParameterFile("EXTERNAL_EMBEDDINGS", alg.tr("External embeddings (Parquet)"),
                                        QgsProcessingParameterFile.File,
                                        fileFilter=alg.tr("Parquet files (*.parquet);;All files (*)"), optional=True),
        "Optional. Embeddings computed elsewhere, used instead of running the embedder: "
        "pytorch_segmentation_models_trainer's embedding_extractor Parquet (tile_id, image_path, row_off, col_off, "
        "patch_size, embedding), a Patch Balancer cache of one model, or any Parquet with image_path, row_off, col_off "
        "and an embedding list column. Rows are matched to patches by image path and window, never by row position; "
        "every included patch must have one, all of one dimension, or the run stops naming the patches missing.")


# --- reading -----------------------------------------------------------------------------------

def optional_value(alg, parameters, key, context, as_int):
    value = parameters.get(key)
    if value is None or value == "" or (isinstance(value, QVariant) and value.isNull()):
        return None  # qgis_process passes an empty value as a NULL QVariant
    return alg.parameterAsInt(parameters, key, context) if as_int else alg.parameterAsDouble(parameters, key, context)


def read_bands(alg, parameters, context) -> tuple:
    value = parameters.get("BANDS")
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = alg.parameterAsString(parameters, "BANDS", context).replace(";", ",").split(",")
    try:
        return tuple(int(v) for v in (i.strip() for i in items) if v)
    except ValueError as exc:
        raise QgsProcessingException(alg.tr("BANDS must be 1-based band numbers such as 4,3,2; got {}").format(value)) from exc


def read_config(alg, parameters, context, **fixed) -> BalanceConfig:
    """The settings from whichever parameters `alg` has; `fixed` sets the rest (e.g. the mode of a step)."""
    has = {p.name() for p in alg.parameterDefinitions()}
    values = {}

    def number(key, field, as_int=True):
        if key in has:
            values[field] = alg.parameterAsInt(parameters, key, context) if as_int else alg.parameterAsDouble(parameters, key, context)

    def flag(key, field):
        if key in has:
            values[field] = alg.parameterAsBool(parameters, key, context)

    def maybe(key, field, as_int):
        if key in has:
            values[field] = optional_value(alg, parameters, key, context, as_int)

    number("PATCH_SIZE", "patch_size")
    number("STRIDE", "stride")
    maybe("NODATA", "nodata", True)
    flag("IGNORE_BAND_NODATA", "ignore_band_nodata")
    flag("EXCLUDE_BORDER_NODATA", "exclude_border_nodata")
    flag("EXCLUDE_BLACK_BORDER", "exclude_black_border")
    number("BLACK_TOLERANCE", "black_tolerance", False)
    flag("EXCLUDE_IMAGE_NODATA", "exclude_image_nodata")
    maybe("MIN_ENTROPY", "min_entropy", False)
    maybe("MAX_NODATA_RATIO", "max_nodata_ratio", False)
    number("K_MIN", "k_min")
    number("K_MAX", "k_max")
    number("K", "k")
    number("SEED", "seed")
    maybe("MAX_OVERSAMPLING", "max_oversampling", False)
    if "TARGET" in has:
        values["target"] = alg.parameterAsString(parameters, "TARGET", context) or "uniform"
    number("BALANCE_STRENGTH", "balance_strength", False)
    number("RFS_THRESHOLD", "rfs_threshold", False)
    if "MODE" in has:
        values["mode"] = MODES[alg.parameterAsEnum(parameters, "MODE", context)]
    if "SAMPLING_METHOD" in has:
        values["method"] = METHOD_CHOICES[alg.parameterAsEnum(parameters, "SAMPLING_METHOD", context)]
    if "EMBEDDER" in has:
        values["embedder"] = alg.parameterAsString(parameters, "EMBEDDER", context) or "dinov2-small"
        values["bands"] = read_bands(alg, parameters, context)
        number("BATCH_SIZE", "batch_size")
        values["device"] = DEVICES[alg.parameterAsEnum(parameters, "DEVICE", context)]
        values["precision"] = PRECISIONS[alg.parameterAsEnum(parameters, "PRECISION", context)]
        number("K_NEIGHBORS", "k_neighbors")
        values["knn_backend"] = KNN_BACKENDS[alg.parameterAsEnum(parameters, "KNN_BACKEND", context)]
        values["embeddings_cache"] = alg.parameterAsFile(parameters, "EMBEDDINGS_CACHE", context) or None
    if "EXTERNAL_EMBEDDINGS" in has:
        values["external_embeddings"] = alg.parameterAsFile(parameters, "EXTERNAL_EMBEDDINGS", context) or None
    if "DASK_SCHEDULER" in has:
        values["scheduler"] = (alg.parameterAsString(parameters, "DASK_SCHEDULER", context) or "").strip() or None
    values.update(fixed)
    return BalanceConfig(**values)


# --- checking, before any work -----------------------------------------------------------------
# An exception escaping a Python checkParameterValues aborts qgis_process (SIGABRT, rc 134): every check
# below returns a message instead, and `checked_parameters` turns anything unexpected into one too.

INT_RANGE = (-2**31, 2**31 - 1)  # what parameterAsInt can return; beyond it the value silently wraps


def _label(definition) -> str:
    return f"“{definition.description()}” ({definition.name()})"


def _number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def number_problem(definition, value) -> str:
    """'' when `value` is a usable value of a number parameter, else what is wrong with it."""
    if isinstance(value, QVariant):
        value = None if value.isNull() else value.value()
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        if not value.strip():
            return ""  # empty: an optional parameter left unset (QGIS refuses a missing mandatory one)
        try:
            x = float(value.strip())
        except ValueError:
            x = None
    elif isinstance(value, (int, float)):
        try:
            x = float(value)
        except OverflowError:
            x = math.inf
    else:
        return ""  # an expression or a model input: QGIS evaluates it
    is_int = definition.dataType() == QgsProcessingParameterNumber.Integer
    lo, hi = definition.minimum(), definition.maximum()
    if is_int:
        lo, hi = max(lo, INT_RANGE[0]), min(hi, INT_RANGE[1])
    bounds = [b if abs(b) < 1e300 else None for b in (lo, hi)]  # QGIS's default bounds are ±DBL_MAX
    kind = "a whole number" if is_int else "a number"
    if bounds[0] is not None and bounds[1] is not None:
        allowed = f"{kind} from {_number_text(bounds[0])} to {_number_text(bounds[1])}"
    elif bounds[0] is not None:
        allowed = f"{kind} of at least {_number_text(bounds[0])}"
    elif bounds[1] is not None:
        allowed = f"{kind} of at most {_number_text(bounds[1])}"
    else:
        allowed = f"a finite {kind[2:]}"
    bad = (x is None or not math.isfinite(x) or (is_int and not x.is_integer())
           or (bounds[0] is not None and x < bounds[0]) or (bounds[1] is not None and x > bounds[1]))
    return f"{_label(definition)} must be {allowed}; got {value}." if bad else ""


def enum_problem(definition, value, context) -> str:
    if definition.checkValueIsAcceptable(value, context):
        return ""
    options = ", ".join(f"{i} = {o}" for i, o in enumerate(definition.options()))
    several = " (or several, comma-separated)" if definition.allowMultiple() else ""
    return f"{_label(definition)} must be the number of one of its options{several}: {options}; got {value}."


BOOLEAN_TEXTS = {"true", "false", "1", "0"}  # QGIS reads any other non-empty text ("no" included) as true


def boolean_problem(definition, value) -> str:
    if isinstance(value, QVariant):
        value = None if value.isNull() else value.value()
    if isinstance(value, str) and value.strip() and value.strip().lower() not in BOOLEAN_TEXTS:
        return f"{_label(definition)} must be true or false (or 1 / 0); got {value}."
    return ""


def value_problem(alg, parameters, context) -> str:
    """'' when every number, choice, band list and class map the user gave is usable, else the first problem."""
    for definition in alg.parameterDefinitions():
        name = definition.name()
        if name not in parameters:
            continue
        value = parameters[name]
        if isinstance(definition, QgsProcessingParameterNumber):
            problem = number_problem(definition, value)
        elif isinstance(definition, QgsProcessingParameterEnum):
            problem = enum_problem(definition, value, context)
        elif isinstance(definition, QgsProcessingParameterBoolean):
            problem = boolean_problem(definition, value)
        else:
            continue
        if problem:
            return problem
    if alg.parameterDefinition("BANDS") is not None:
        try:
            bands = read_bands(alg, parameters, context)
        except QgsProcessingException as exc:
            return str(exc)
        problem = _bands_problem(alg, parameters, context, bands)
        if problem:
            return problem
    if alg.parameterDefinition("CLASS_MAP") is not None:
        path = alg.parameterAsFile(parameters, "CLASS_MAP", context)
        if path:
            try:
                read_class_map(path)
            except BalanceError as exc:
                return f"CLASS_MAP: {exc}"
    return ""


def _bands_problem(alg, parameters, context, bands) -> str:
    if any(b < 1 for b in bands) or len(bands) not in (0, 1, 3):
        return (f"BANDS must be one band (shown as grey) or three 1-based band numbers (red, green, blue), "
                f"e.g. 4,3,2; got {','.join(map(str, bands))}.")
    if bands and alg.parameterDefinition("IMAGE") is not None and parameters.get("IMAGE"):
        for layer in alg.parameterAsLayerList(parameters, "IMAGE", context):
            if max(bands) > layer.bandCount():
                return (f"BANDS asks for band {max(bands)}, but the image {safe_source_name(layer.source())!r} "
                        f"has {layer.bandCount()} band(s).")
    return ""


def embedder_problem(config: BalanceConfig) -> str:
    """A local model folder that is not there, or a GPU that is not there, refused before any work."""
    if not config.needs_uniqueness or config.embedder.strip().lower() == "descriptor":
        return ""
    ref = os.path.expanduser(ALIASES.get(config.embedder.strip(), config.embedder.strip()))
    looks_like_path = os.path.isabs(ref) or ref.startswith((".", "~")) or ref.count("/") > 1 or "\\" in ref
    if looks_like_path and not os.path.isdir(ref):
        return (f"EMBEDDER: the model folder {ref!r} does not exist. Give a folder written by `save_pretrained` / "
                "`snapshot_download` (config.json and model.safetensors), an alias (dinov2-small, dinov2-base, "
                "dinov2-large), a Hugging Face model id, or 'descriptor'.")
    if config.device == "cuda":
        import torch  # present: the dependency check ran first

        if not torch.cuda.is_available():
            return "DEVICE is 'cuda', but torch sees no CUDA GPU here; choose 'auto' or 'cpu'."
    return ""


def settings_problem(alg, parameters, context, **fixed) -> str:
    """'' when the parameters read into settings that can run here, else what to change or install."""
    try:
        config = read_config(alg, parameters, context, **fixed)
        config.validate()
    except (QgsProcessingException, BalanceError) as exc:
        return str(exc)
    if alg.parameterDefinition("EMBEDDER") is None:
        return ""
    return alg.check_config(config) or embedder_problem(config)


def checked_parameters(alg, parameters, context, qgis_check, **fixed):
    """(ok, message) for an algorithm's checkParameterValues; never raises.

    Clear messages for numbers and choices come first (QGIS's own only says "Incorrect parameter value"),
    then `qgis_check` (the base class: rasters loaded, QGIS's checks), then the settings as a whole.
    """
    try:
        problem = value_problem(alg, parameters, context)
        if problem:
            return False, safe_source_name(problem)
        ok, message = qgis_check(parameters, context)
        if not ok:
            return False, message
        if alg.parameterDefinition("IMAGE") is not None and alg.parameterDefinition("IMAGE_FOLDER") is not None:
            raster_pairs(alg, parameters, context)  # no rasters, or rasters that do not pair: said before the run
        problem = settings_problem(alg, parameters, context, **fixed)
        return not problem, safe_source_name(problem)
    except (QgsProcessingException, BalanceError) as exc:
        return False, safe_source_name(str(exc))
    except KeyboardInterrupt:  # Ctrl+C in qgis_process before the run: Python's default handler raises here
        return False, "Interrupted (Ctrl+C) while checking the parameters."
    except Exception as exc:  # noqa: BLE001 - shown, not hidden: escaping here would abort qgis_process
        QgsMessageLog.logMessage(safe_source_name(traceback.format_exc()), "Patch Balancer", Qgis.Critical)
        return False, safe_source_name(
            f"Patch Balancer could not check the parameters ({type(exc).__name__}: {exc}). This is a bug; please "
            "report it with the parameters used (the traceback is in the log's 'Patch Balancer' tab).")
