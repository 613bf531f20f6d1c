"""Writes models/patch_balancer_chain.model3: the four steps chained for QGIS's Graphical Modeler, and
models/patch_balancer_split_chain.model3: grid → composition → split → weights (`build_split_model`).

Every setting of every step is stored (the model's inputs where it has one, else the step's own
default), so the model opens valid: the Modeler marks a step red when a mandatory setting has no
value, defaults included. Run `make model` after changing an algorithm's parameters; the tests check
that the committed file validates against the running plugin and run it through processing.run.
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_HASH_SEED"] = "0"  # stable XML attribute order, so regenerating gives no spurious diff
REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "models" / "patch_balancer_chain.model3"
sys.path.insert(0, str(REPO / "scripts"))

# (child id, algorithm, x position)
STEPS = (("grid", "createpatchgrid", 120), ("composition", "computeclasscomposition", 380),
         ("uniqueness", "computevisualuniqueness", 640), ("weights", "computesamplerweights", 900))
# model output name → (child id, the child's output)
OUTPUTS = {"Balanced patches": ("weights", "OUTPUT"), "Sampler CSV": ("weights", "OUTPUT_CSV"),
           "Balance report": ("weights", "REPORT"), "Loss class weights": ("weights", "LOSS_WEIGHTS")}


def build_model(registry=None):
    """The model; `registry` (QGIS's processing registry with the plugin's provider) gives each step's defaults."""
    from qgis.core import (
        QgsApplication,
        QgsProcessing,
        QgsProcessingDestinationParameter,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource as Source,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterDefinition,
        QgsProcessingParameterFile,
        QgsProcessingParameterMultipleLayers,
        QgsProcessingParameterNumber,
        QgsProcessingParameterString,
    )
    from qgis.PyQt.QtCore import QPointF

    registry = registry or QgsApplication.processingRegistry()
    model = QgsProcessingModelAlgorithm("Balanced sampling chain", "Patch Balancer", "patchbalancerchain")
    model.setHelpContent({
        "ALG_DESC": "The four steps of Patch Balancer in a row: create patch grid → class composition → visual "
                    "uniqueness → sampler weights. Open it in the Graphical Modeler to change any step's settings "
                    "(each holds the step's defaults), or add steps between them.",
        "images": "The imagery: one raster or several tiles.",
        "masks": "Integer class labels, one mask per image, on its image's pixel grid.",
        "patch_size": "Side of the square patches, in pixels.",
        "embedder": "dinov2-small (downloaded once), a local model folder, or 'descriptor' (no model, no download).",
        "max_oversampling": "No patch is drawn more than this many times as often as the average patch.",
        "class_map": "Optional text file, one class per line: value,name,#rrggbb.",
    })
    inputs = [
        QgsProcessingParameterMultipleLayers("images", "Image raster(s)", QgsProcessing.TypeRaster),
        QgsProcessingParameterMultipleLayers("masks", "Label mask raster(s)", QgsProcessing.TypeRaster),
        QgsProcessingParameterNumber("patch_size", "Patch size (pixels)", QgsProcessingParameterNumber.Integer, 256,
                                     minValue=1),
        QgsProcessingParameterString("embedder", "Embedder", "dinov2-small"),
        QgsProcessingParameterNumber("max_oversampling", "Oversampling cap", QgsProcessingParameterNumber.Double, 5.0,
                                     minValue=1.0),
        QgsProcessingParameterFile("class_map", "Class names and colours", QgsProcessingParameterFile.File, "",
                                   optional=True),
    ]
    for i, param in enumerate(inputs):
        component = QgsProcessingModelParameter(param.name())
        component.setDescription(param.description())
        component.setPosition(QPointF(120 + 260 * (i % 3), 60 + 90 * (i // 3)))
        model.addModelParameter(param, component)

    linked = {
        "grid": {"IMAGE": Source.fromModelParameter("images"), "MASK": Source.fromModelParameter("masks"),
                 "PATCH_SIZE": Source.fromModelParameter("patch_size")},
        "composition": {"INPUT": Source.fromChildOutput("grid", "OUTPUT"),
                        "CLASS_MAP": Source.fromModelParameter("class_map")},
        "uniqueness": {"INPUT": Source.fromChildOutput("composition", "OUTPUT"),
                       "EMBEDDER": Source.fromModelParameter("embedder")},
        "weights": {"INPUT": Source.fromChildOutput("uniqueness", "OUTPUT"),
                    "MAX_OVERSAMPLING": Source.fromModelParameter("max_oversampling")},
    }
    for child_id, algorithm_id, x in STEPS:
        algorithm = registry.algorithmById(f"patchbalancer:{algorithm_id}")
        if algorithm is None:
            raise RuntimeError(f"patchbalancer:{algorithm_id} is not registered: load the plugin's provider first")
        child = QgsProcessingModelChildAlgorithm(algorithm.id())
        child.setChildId(child_id)
        child.setDescription(algorithm.displayName())
        child.setPosition(QPointF(x, 330))
        sources = dict(linked[child_id])
        for param in algorithm.parameterDefinitions():
            name = param.name()
            if name in sources or isinstance(param, QgsProcessingDestinationParameter):
                continue
            if param.flags() & QgsProcessingParameterDefinition.FlagOptional and param.defaultValue() is None:
                continue  # an empty optional setting: nothing to store
            sources[name] = Source.fromStaticValue(param.defaultValue())
        for name in sorted(sources):
            child.addParameterSources(name, [sources[name]])
        outputs = {}
        for output_name, (output_child, key) in OUTPUTS.items():
            if output_child == child_id:
                output = QgsProcessingModelOutput(output_name, output_name)
                output.setChildId(child_id)
                output.setChildOutputName(key)
                output.setMandatory(key == "OUTPUT")
                output.setPosition(QPointF(x + 60, 460 + 50 * len(outputs)))
                outputs[output_name] = output
        child.setModelOutputs(outputs)
        model.addChildAlgorithm(child)
    return model


SPLIT_OUT = REPO / "models" / "patch_balancer_split_chain.model3"
# (child id, algorithm, x position) of the split chain
SPLIT_STEPS = (("grid", "createpatchgrid", 120), ("composition", "computeclasscomposition", 380),
               ("split", "splitpatches", 640), ("weights", "computesamplerweights", 900))
SPLIT_OUTPUTS = {"Balanced patches": ("weights", "OUTPUT"), "Split CSVs": ("weights", "OUTPUT_FOLDER"),
                 "Sampler CSV": ("weights", "OUTPUT_CSV"), "Balance report": ("weights", "REPORT"),
                 "Split report": ("split", "REPORT")}


def build_split_model(registry=None):
    """grid → composition → split → weights (issue 16): train / val / test by spatial blocks, weights on train only.

    Kept apart from `build_model` so the two chains can change independently; every step's settings are
    stored the same way (the model's inputs where it has one, else the step's default), so it opens valid."""
    from qgis.core import (
        QgsApplication,
        QgsProcessing,
        QgsProcessingDestinationParameter,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource as Source,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterDefinition,
        QgsProcessingParameterFile,
        QgsProcessingParameterMultipleLayers,
        QgsProcessingParameterNumber,
        QgsProcessingParameterString,
    )
    from qgis.PyQt.QtCore import QPointF

    registry = registry or QgsApplication.processingRegistry()
    model = QgsProcessingModelAlgorithm("Split and balance chain", "Patch Balancer", "patchbalancersplitchain")
    model.setHelpContent({
        "ALG_DESC": "Patch grid → class composition → train / validation / test split by spatial blocks "
                    "(class-stratified, patches of different splits never share a pixel) → sampler weights for the "
                    "training split only, with one CSV per split. Open it in the Graphical Modeler to change any "
                    "step's settings.",
        "images": "The imagery: one raster or several tiles.",
        "masks": "Integer class labels, one mask per image, on its image's pixel grid.",
        "patch_size": "Side of the square patches, in pixels.",
        "fractions": "One fraction per split (train, val, test), of the usable patches.",
        "block_size": "Side of the spatial blocks in map units; 0 = 8 patches wide.",
        "buffer": "Patches closer than this (map units) to a patch of another split are excluded.",
        "max_oversampling": "No training patch is drawn more than this many times as often as the average one.",
        "class_map": "Optional text file, one class per line: value,name,#rrggbb.",
    })
    Double = QgsProcessingParameterNumber.Double
    inputs = [
        QgsProcessingParameterMultipleLayers("images", "Image raster(s)", QgsProcessing.TypeRaster),
        QgsProcessingParameterMultipleLayers("masks", "Label mask raster(s)", QgsProcessing.TypeRaster),
        QgsProcessingParameterNumber("patch_size", "Patch size (pixels)", QgsProcessingParameterNumber.Integer, 256,
                                     minValue=1),
        QgsProcessingParameterString("fractions", "Split fractions (train, val, test)", "0.7,0.15,0.15"),
        QgsProcessingParameterNumber("block_size", "Block size (map units)", Double, 0.0, minValue=0.0),
        QgsProcessingParameterNumber("buffer", "Buffer between splits (map units)", Double, 0.0, minValue=0.0),
        QgsProcessingParameterNumber("max_oversampling", "Oversampling cap", Double, 5.0, minValue=1.0),
        QgsProcessingParameterFile("class_map", "Class names and colours", QgsProcessingParameterFile.File, "",
                                   optional=True),
    ]
    for i, param in enumerate(inputs):
        component = QgsProcessingModelParameter(param.name())
        component.setDescription(param.description())
        component.setPosition(QPointF(120 + 260 * (i % 4), 60 + 90 * (i // 4)))
        model.addModelParameter(param, component)
    linked = {
        "grid": {"IMAGE": Source.fromModelParameter("images"), "MASK": Source.fromModelParameter("masks"),
                 "PATCH_SIZE": Source.fromModelParameter("patch_size")},
        "composition": {"INPUT": Source.fromChildOutput("grid", "OUTPUT"),
                        "CLASS_MAP": Source.fromModelParameter("class_map")},
        "split": {"INPUT": Source.fromChildOutput("composition", "OUTPUT"),
                  "FRACTIONS": Source.fromModelParameter("fractions"),
                  "BLOCK_SIZE": Source.fromModelParameter("block_size"),
                  "BUFFER": Source.fromModelParameter("buffer")},
        "weights": {"INPUT": Source.fromChildOutput("split", "OUTPUT"),
                    "MAX_OVERSAMPLING": Source.fromModelParameter("max_oversampling"),
                    "CLASS_MAP": Source.fromModelParameter("class_map")},
    }
    for child_id, algorithm_id, x in SPLIT_STEPS:
        algorithm = registry.algorithmById(f"patchbalancer:{algorithm_id}")
        if algorithm is None:
            raise RuntimeError(f"patchbalancer:{algorithm_id} is not registered: load the plugin's provider first")
        child = QgsProcessingModelChildAlgorithm(algorithm.id())
        child.setChildId(child_id)
        child.setDescription(algorithm.displayName())
        child.setPosition(QPointF(x, 330))
        sources = dict(linked[child_id])
        for param in algorithm.parameterDefinitions():
            name = param.name()
            if name in sources or isinstance(param, QgsProcessingDestinationParameter):
                continue
            if param.flags() & QgsProcessingParameterDefinition.FlagOptional and param.defaultValue() is None:
                continue
            sources[name] = Source.fromStaticValue(param.defaultValue())
        for name in sorted(sources):
            child.addParameterSources(name, [sources[name]])
        outputs = {}
        for output_name, (output_child, key) in SPLIT_OUTPUTS.items():
            if output_child == child_id:
                output = QgsProcessingModelOutput(output_name, output_name)
                output.setChildId(child_id)
                output.setChildOutputName(key)
                output.setMandatory(key == "OUTPUT")
                output.setPosition(QPointF(x + 60, 460 + 50 * len(outputs)))
                outputs[output_name] = output
        child.setModelOutputs(outputs)
        model.addChildAlgorithm(child)
    return model


def write_model(model, path) -> None:
    ok, issues = model.validate()
    if not ok:
        sys.exit(f"the model {path.name} does not validate:\n" + "\n".join(issues))
    path.parent.mkdir(exist_ok=True)
    if not model.toFile(str(path)):
        sys.exit(f"could not write {path}")
    print(f"Model: {path} (valid)")


def main():
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    from plugin_package import load_plugin_package

    load_plugin_package()
    from patch_balancer.processing_provider.provider import PatchBalancerProvider

    provider = PatchBalancerProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    model = build_model()
    ok, issues = model.validate()
    if not ok:
        sys.exit("the model does not validate:\n" + "\n".join(issues))
    OUT.parent.mkdir(exist_ok=True)
    if not model.toFile(str(OUT)):
        sys.exit(f"could not write {OUT}")
    print(f"Model: {OUT} (valid)")
    split_model = build_split_model()
    write_model(split_model, SPLIT_OUT)
    QgsApplication.processingRegistry().removeProvider(provider)
    del model, split_model
    app.exitQgis()


if __name__ == "__main__":
    main()
