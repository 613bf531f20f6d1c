"""Build balanced dataset: image + label mask → patch layer graded by `sampler_weight` + CSV."""
import importlib.util
import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ...balance_core.config import KNN_BACKENDS, MODES, PRECISIONS, SAMPLING_METHODS, BalanceConfig
from ...balance_core.dinov2 import INSTALL_HINT, missing_packages
from ...balance_core.errors import BalanceError
from ...balance_core.knn import available as knn_backend_available
from ...balance_core.pipeline import build_balanced_dataset
from ...balance_core.writers import write_csv
from ..base import PatchBalancerAlgorithm
from ..feedback import FeedbackProgress
from ..layer_writer import patch_fields, write_patches
from ..styling import SamplerWeightStyler, save_default_style, sampler_weight_renderer

Integer, Double = QgsProcessingParameterNumber.Integer, QgsProcessingParameterNumber.Double
METHOD_CHOICES = ("",) + SAMPLING_METHODS  # "" = the mode's default
DEVICES = ("auto", "cpu", "cuda")


class BuildBalancedDatasetAlgorithm(PatchBalancerAlgorithm):
    IMAGE = "IMAGE"
    MASK = "MASK"
    PATCH_SIZE = "PATCH_SIZE"
    STRIDE = "STRIDE"
    NODATA = "NODATA"
    IGNORE_BAND_NODATA = "IGNORE_BAND_NODATA"
    EXCLUDE_BORDER_NODATA = "EXCLUDE_BORDER_NODATA"
    EXCLUDE_BLACK_BORDER = "EXCLUDE_BLACK_BORDER"
    BLACK_TOLERANCE = "BLACK_TOLERANCE"
    MIN_ENTROPY = "MIN_ENTROPY"
    MAX_NODATA_RATIO = "MAX_NODATA_RATIO"
    K_MIN = "K_MIN"
    K_MAX = "K_MAX"
    K = "K"
    SEED = "SEED"
    MODE = "MODE"
    SAMPLING_METHOD = "SAMPLING_METHOD"
    EMBEDDER = "EMBEDDER"
    BANDS = "BANDS"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    PRECISION = "PRECISION"
    K_NEIGHBORS = "K_NEIGHBORS"
    KNN_BACKEND = "KNN_BACKEND"
    EMBEDDINGS_CACHE = "EMBEDDINGS_CACHE"
    OUTPUT = "OUTPUT"
    OUTPUT_CSV = "OUTPUT_CSV"
    PATCH_COUNT = "PATCH_COUNT"
    EXCLUDED_COUNT = "EXCLUDED_COUNT"
    CLUSTER_COUNT = "CLUSTER_COUNT"

    def __init__(self):
        super().__init__()
        self._styler = None  # one post-processor per run and output, never a class-level singleton

    def name(self):
        return "buildbalanceddataset"

    def displayName(self):
        return self.tr("Build balanced dataset")

    def group(self):
        return self.tr("Balanced sampling")

    def groupId(self):
        return "balancedsampling"

    def shortHelpString(self):
        return self.tr(
            "Cuts the image/mask pair into a grid of square patches and gives every patch a "
            "<b>sampler_weight</b> from two signals: <i>class composition</i> (the mask's class fractions → "
            "centred log-ratio → KMeans; patches of rare compositions weigh more) and <i>visual uniqueness</i> "
            "(DINOv2 CLS embeddings of the image → mean cosine distance to the k nearest patches; patches "
            "unlike the others weigh more). The mode picks the signals; the sampling method combines them "
            "on tie-aware ranks (rank_max, rank_multiply, rank_add, multiplicative, composition_only, "
            "uniqueness_only). Excluded patches get 0, every other patch at least a small floor.<br><br>"
            "The first DINOv2 run downloads the model from Hugging Face; offline, give a local model "
            "folder or use the weights-free 'descriptor' embedder.<br><br>"
            "<b>Balanced patches</b>: one polygon per patch in the raster's CRS, graduated on "
            "sampler_weight (light = rarely drawn, dark = often drawn; excluded patches grey hatched). "
            "Fields: patch_id, image_path, mask_path, row_off, col_off, patch_size, one c_&lt;value&gt; "
            "fraction per class, class_entropy (nats), nodata_ratio, the exclusion flags "
            "(excl_border_nodata, excl_black_border, excl_low_entropy, excl_nodata_ratio) and excluded, "
            "freq_cluster_id/size/weight (when composition is computed), uniqueness_score (when uniqueness "
            "is computed; empty for excluded patches), sampler_weight. Stored in a GeoPackage, the style is saved as "
            "the layer's default.<br><br>"
            "<b>Sampler CSV</b>: the same columns plus class_dist_json, ready for PyTorch's "
            "WeightedRandomSampler (weights = the sampler_weight column)."
        )

    def initAlgorithm(self, config=None):
        def add(param, help_text):
            param.setHelp(self.tr(help_text))
            self.addParameter(param)

        def optional_number(key, label, kind, minimum=None, maximum=None):
            param = QgsProcessingParameterNumber(key, self.tr(label), kind, optional=True)
            if minimum is not None:
                param.setMinimum(minimum)
            if maximum is not None:
                param.setMaximum(maximum)
            return param

        add(QgsProcessingParameterRasterLayer(self.IMAGE, self.tr("Image raster")),
            "The imagery the model will see. Used for the patch footprints (its grid and CRS) and for the black-border check.")
        add(QgsProcessingParameterRasterLayer(self.MASK, self.tr("Label mask raster")),
            "Integer class labels on exactly the image's pixel grid (same CRS, size, origin and pixel size). Band 1 is read.")
        add(QgsProcessingParameterNumber(self.PATCH_SIZE, self.tr("Patch size (pixels)"), Integer, 256, minValue=1),
            "Side of the square patches, in pixels. Only full patches are made: a patch never reaches past the raster edge.")
        add(QgsProcessingParameterNumber(self.STRIDE, self.tr("Stride (pixels, 0 = patch size)"), Integer, 0, minValue=0),
            "Step between patch origins. 0 tiles without overlap; smaller than the patch size gives overlapping patches.")
        add(optional_number(self.NODATA, "Mask nodata value (empty = the band's own)", Integer),
            "Mask value meaning 'no label'. Empty uses the mask band's nodata value. Class 0 is an ordinary class unless you name it here.")
        add(QgsProcessingParameterBoolean(self.IGNORE_BAND_NODATA, self.tr("Ignore the mask band's nodata value"), False),
            "Tick for masks that wrongly declare their background class as nodata: that value then counts as a class.")
        add(QgsProcessingParameterBoolean(self.EXCLUDE_BORDER_NODATA, self.tr("Exclude patches with nodata on their border"), True),
            "Excludes a patch when any mask pixel on its border is nodata (typically the edge of the labelled area).")
        add(QgsProcessingParameterBoolean(self.EXCLUDE_BLACK_BORDER, self.tr("Exclude patches with black image pixels on their border"), True),
            "Excludes a patch when any image pixel on its border is black in every band (a collar outside the scene).")
        add(QgsProcessingParameterNumber(self.BLACK_TOLERANCE, self.tr("Black tolerance"), Double, 0.0, minValue=0.0),
            "A pixel is black when every band is at most this value.")
        add(optional_number(self.MIN_ENTROPY, "Minimum class entropy (nats, empty = none)", Double, 0.0),
            "Excludes patches whose class entropy is below this value (0 = a single class). Empty keeps all.")
        add(optional_number(self.MAX_NODATA_RATIO, "Maximum nodata ratio (0–1, empty = none)", Double, 0.0, 1.0),
            "Excludes patches whose share of nodata pixels is above this value. Patches with no labelled pixel are always excluded.")
        add(QgsProcessingParameterNumber(self.K_MIN, self.tr("Minimum number of clusters"), Integer, 4, minValue=1),
            "Smallest K tried by the elbow search over the composition clusters.")
        add(QgsProcessingParameterNumber(self.K_MAX, self.tr("Maximum number of clusters"), Integer, 16, minValue=1),
            "Largest K tried by the elbow search. K never exceeds the number of distinct compositions.")
        add(QgsProcessingParameterNumber(self.K, self.tr("Fixed number of clusters (0 = elbow)"), Integer, 0, minValue=0),
            "Use exactly this K instead of the elbow of the inertia curve.")
        add(QgsProcessingParameterNumber(self.SEED, self.tr("Random seed"), Integer, 42),
            "Seed of KMeans: the same inputs and seed give the same weights.")
        add(QgsProcessingParameterEnum(self.MODE, self.tr("Signals"), options=[
                self.tr("Masks only: class composition"),
                self.tr("Embeddings only: visual uniqueness"),
                self.tr("Both: composition and uniqueness")], defaultValue=0),
            "Masks only needs no model and is fast. Embeddings compute an image embedding per included patch "
            "(DINOv2 on a CPU: tens of patches per second) and need torch and transformers, or the 'descriptor' embedder.")
        add(QgsProcessingParameterEnum(self.SAMPLING_METHOD, self.tr("Sampling method"), options=[
                self.tr("Default for the signals (rank_max for both, else the one signal)")] + list(SAMPLING_METHODS),
                defaultValue=0),
            "How the two signals become one weight, on tie-aware percentile ranks among included patches: "
            "rank_max = max of the ranks (a patch rare in either sense is favoured), rank_multiply = product "
            "(rare in both), rank_add = mean, multiplicative = product of the raw scores, composition_only, "
            "uniqueness_only. A method needing a signal the mode does not compute is refused before any work.")
        add(QgsProcessingParameterString(self.EMBEDDER, self.tr("Embedder"), defaultValue="dinov2-small"),
            "dinov2-small, dinov2-base or dinov2-large (facebook/dinov2-* on Hugging Face, downloaded once), "
            "any Hugging Face model id, a local model folder (offline use: config.json + model.safetensors), "
            "or 'descriptor': a weights-free colour/texture/layout descriptor — fast, but less semantic than DINOv2.")
        advanced = []
        advanced.append(QgsProcessingParameterBand(self.BANDS, self.tr("Image bands for the embedder"), None, self.IMAGE,
                                                   optional=True, allowMultiple=True))
        add(advanced[-1], "One band (shown as grey) or three bands (as red, green, blue). Empty: the first three, "
            "or band 1 for a one-band image. Non-8-bit bands are scaled by their 2nd–98th percentiles over the image.")
        advanced.append(QgsProcessingParameterNumber(self.BATCH_SIZE, self.tr("Batch size"), Integer, 32, minValue=1))
        add(advanced[-1], "Patches embedded at once. Larger is faster on a GPU; on a CPU 16–64 is enough.")
        advanced.append(QgsProcessingParameterEnum(self.DEVICE, self.tr("Device"), options=list(DEVICES), defaultValue=0))
        add(advanced[-1], "auto uses a CUDA GPU when torch sees one, else the CPU.")
        advanced.append(QgsProcessingParameterEnum(self.PRECISION, self.tr("Precision"), options=list(PRECISIONS), defaultValue=0))
        add(advanced[-1], "auto computes in bfloat16 where the device does so natively (recent GPUs; CPUs with AVX512-BF16 "
            "or AMX, about twice as fast), else float32. fp32 reproduces the plain transformers forward exactly.")
        add(QgsProcessingParameterNumber(self.K_NEIGHBORS, self.tr("Neighbours for uniqueness (k)"), Integer, 5, minValue=1),
            "Uniqueness is the mean cosine distance to this many nearest included patches (itself excluded).")
        advanced.append(QgsProcessingParameterEnum(self.KNN_BACKEND, self.tr("Nearest-neighbour search"), options=list(KNN_BACKENDS), defaultValue=0))
        add(advanced[-1], "auto: exact up to 20,000 patches, hnsw above. exact = blocked matrix product; hnsw = approximate "
            "graph search (hnswlib) with exact re-ranking; sklearn = scikit-learn brute force; faiss = when installed.")
        for param in advanced:
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        add(QgsProcessingParameterFileDestination(self.EMBEDDINGS_CACHE, self.tr("Embeddings cache (Parquet)"),
                                                  self.tr("Parquet files (*.parquet)"), optional=True, createByDefault=False),
            "Optional. An existing cache is read and extended, never overwritten: patches already embedded with the same "
            "model, bands and scaling are read instead of computed. Rows for other models or windows are kept, never matched.")
        add(QgsProcessingParameterFeatureSink(self.OUTPUT, self.tr("Balanced patches"), QgsProcessing.TypeVectorPolygon),
            "Patch footprints with composition, exclusion flags, clusters and sampler_weight, styled by weight.")
        add(QgsProcessingParameterFileDestination(self.OUTPUT_CSV, self.tr("Sampler CSV"), self.tr("CSV files (*.csv)"), optional=True, createByDefault=False),
            "Optional CSV with the same columns plus class_dist_json, for PyTorch's WeightedRandomSampler.")
        self.addOutput(QgsProcessingOutputNumber(self.PATCH_COUNT, self.tr("Number of patches")))
        self.addOutput(QgsProcessingOutputNumber(self.EXCLUDED_COUNT, self.tr("Number of excluded patches")))
        self.addOutput(QgsProcessingOutputNumber(self.CLUSTER_COUNT, self.tr("Number of composition clusters")))

    def _optional(self, parameters, key, context, as_int):
        value = parameters.get(key)
        if value is None or value == "" or (isinstance(value, QVariant) and value.isNull()):
            return None  # qgis_process passes an empty value as a NULL QVariant
        return self.parameterAsInt(parameters, key, context) if as_int else self.parameterAsDouble(parameters, key, context)

    def _raster_layer(self, parameters, key, context, role):
        """The parameter's raster layer, which must be a GDAL file (the engine reads it by path)."""
        layer = self.parameterAsRasterLayer(parameters, key, context)
        if layer is None:
            raise QgsProcessingException(self.tr("The {} raster could not be loaded: {}").format(role, parameters.get(key)))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                self.tr("The {} raster must be a file read by GDAL (e.g. a GeoTIFF); '{}' comes from the '{}' provider.")
                .format(role, layer.name(), layer.providerType()))
        return layer

    def _config(self, parameters, context) -> BalanceConfig:
        return BalanceConfig(
            patch_size=self.parameterAsInt(parameters, self.PATCH_SIZE, context),
            stride=self.parameterAsInt(parameters, self.STRIDE, context),
            nodata=self._optional(parameters, self.NODATA, context, True),
            ignore_band_nodata=self.parameterAsBool(parameters, self.IGNORE_BAND_NODATA, context),
            exclude_border_nodata=self.parameterAsBool(parameters, self.EXCLUDE_BORDER_NODATA, context),
            exclude_black_border=self.parameterAsBool(parameters, self.EXCLUDE_BLACK_BORDER, context),
            black_tolerance=self.parameterAsDouble(parameters, self.BLACK_TOLERANCE, context),
            min_entropy=self._optional(parameters, self.MIN_ENTROPY, context, False),
            max_nodata_ratio=self._optional(parameters, self.MAX_NODATA_RATIO, context, False),
            k_min=self.parameterAsInt(parameters, self.K_MIN, context),
            k_max=self.parameterAsInt(parameters, self.K_MAX, context),
            k=self.parameterAsInt(parameters, self.K, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            mode=MODES[self.parameterAsEnum(parameters, self.MODE, context)],
            method=METHOD_CHOICES[self.parameterAsEnum(parameters, self.SAMPLING_METHOD, context)],
            embedder=self.parameterAsString(parameters, self.EMBEDDER, context) or "dinov2-small",
            bands=tuple(self.parameterAsInts(parameters, self.BANDS, context) or ()),
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            device=DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
            precision=PRECISIONS[self.parameterAsEnum(parameters, self.PRECISION, context)],
            k_neighbors=self.parameterAsInt(parameters, self.K_NEIGHBORS, context),
            knn_backend=KNN_BACKENDS[self.parameterAsEnum(parameters, self.KNN_BACKEND, context)],
            embeddings_cache=self.parameterAsFileOutput(parameters, self.EMBEDDINGS_CACHE, context) or None,
        )

    def checkParameterValues(self, parameters, context):
        """Refuse contradictory settings and missing packages before the run starts, with what to do."""
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        try:
            config = self._config(parameters, context).validate()
        except BalanceError as exc:
            return False, str(exc)
        if config.needs_uniqueness:
            if config.embedder.strip().lower() != "descriptor" and missing_packages():
                return False, self.tr("Missing {}. {}").format(", ".join(missing_packages()), INSTALL_HINT)
            if config.knn_backend in ("hnsw", "faiss") and not knn_backend_available(config.knn_backend):
                return False, self.tr("Nearest-neighbour search '{}' is not installed here; choose 'auto'.").format(config.knn_backend)
            if config.embeddings_cache and importlib.util.find_spec("pyarrow") is None:
                return False, self.tr("The embeddings cache needs pyarrow (pip install pyarrow); leave the cache empty to run without it.")
        return True, ""

    def processAlgorithm(self, parameters, context, feedback):
        image_layer = self._raster_layer(parameters, self.IMAGE, context, "image")
        mask_layer = self._raster_layer(parameters, self.MASK, context, "mask")
        csv_path = self.parameterAsFileOutput(parameters, self.OUTPUT_CSV, context)
        config = self._config(parameters, context)
        try:  # the pipeline validates the settings before any work
            table, pair = build_balanced_dataset(
                image_layer.source(), mask_layer.source(), config, FeedbackProgress(feedback))
        except BalanceError as exc:
            raise QgsProcessingException(str(exc)) from exc

        fields = patch_fields(table)
        sink, dest_id = self.parameterAsSink(
            parameters, self.OUTPUT, context, fields, QgsWkbTypes.Polygon, image_layer.crs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        completed = write_patches(sink, table, pair, fields, feedback)
        del sink  # closes the file: its style can be stored, or a cancelled file removed
        if not completed:
            _remove_file_output(dest_id)
            raise QgsProcessingException(
                self.tr("Cancelled by the user while writing the patch layer; the partial layer was removed."))

        renderer = sampler_weight_renderer(table["sampler_weight"])
        if dest_id.lower().split("|")[0].endswith(".gpkg"):
            error = save_default_style(dest_id, renderer)
            if error:
                feedback.pushWarning(self.tr("The style could not be stored in the GeoPackage: {}").format(error))
        if context.willLoadLayerOnCompletion(dest_id):
            self._styler = SamplerWeightStyler(renderer, self.tr("Balanced patches"))
            context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(self._styler)

        if csv_path:
            write_csv(table, csv_path)
        included = ~table["excluded"]
        return {
            self.OUTPUT: dest_id,
            self.OUTPUT_CSV: csv_path or None,
            self.EMBEDDINGS_CACHE: config.embeddings_cache,
            self.PATCH_COUNT: len(table),
            self.EXCLUDED_COUNT: int(table["excluded"].sum()),
            self.CLUSTER_COUNT: int(len(set(table["freq_cluster_id"][included].tolist()))) if "freq_cluster_id" in table else 0,
        }


def _remove_file_output(dest_id: str) -> None:
    """Remove a cancelled file output, with the side files SQLite-based formats leave."""
    path = dest_id.split("|")[0]
    for candidate in (path, path + "-journal", path + "-wal", path + "-shm"):
        if os.path.isfile(candidate):
            os.remove(candidate)
