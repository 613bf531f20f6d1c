"""Writes models/patch_balancer_chain.model3: the four steps chained for QGIS's Graphical Modeler.

Run with `make model` after changing an algorithm's parameters; the test suite runs the
committed file through processing.run.
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_HASH_SEED"] = "0"  # stable XML attribute order, so regenerating gives no spurious diff
REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "models" / "patch_balancer_chain.model3"


def build_model():
    from qgis.core import (
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource as Source,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterFileDestination,
        QgsProcessingParameterMultipleLayers,
        QgsProcessingParameterNumber,
        QgsProcessingParameterString,
    )
    from qgis.PyQt.QtCore import QPointF

    model = QgsProcessingModelAlgorithm("Balanced sampling chain", "Patch Balancer", "patchbalancerchain")
    model.setHelpContent({"ALG_DESC": "Create patch grid → class composition → visual uniqueness → sampler weights. "
                                      "Open it in the Graphical Modeler to change any step's settings."})
    inputs = [
        QgsProcessingParameterMultipleLayers("images", "Image rasters", QgsProcessing.TypeRaster),
        QgsProcessingParameterMultipleLayers("masks", "Label mask rasters", QgsProcessing.TypeRaster),
        QgsProcessingParameterNumber("patch_size", "Patch size (pixels)", QgsProcessingParameterNumber.Integer, 256,
                                     minValue=1),
        QgsProcessingParameterString("embedder", "Embedder", "dinov2-small"),
        QgsProcessingParameterNumber("max_oversampling", "Oversampling cap", QgsProcessingParameterNumber.Double, 5.0,
                                     minValue=1.0),
    ]
    for i, param in enumerate(inputs):
        component = QgsProcessingModelParameter(param.name())
        component.setPosition(QPointF(120, 60 + 70 * i))
        model.addModelParameter(param, component)

    def step(child_id, algorithm, x, sources, outputs=()):
        child = QgsProcessingModelChildAlgorithm(f"patchbalancer:{algorithm}")
        child.setChildId(child_id)
        child.setDescription(child_id)
        child.setPosition(QPointF(x, 420))
        for key, source in sources.items():
            child.addParameterSources(key, [source])
        child.setModelOutputs({name: _output(name, child_id, key) for name, key in outputs})
        model.addChildAlgorithm(child)

    def _output(name, child_id, key):
        output = QgsProcessingModelOutput(name)
        output.setChildId(child_id)
        output.setChildOutputName(key)
        return output

    step("grid", "createpatchgrid", 120, {"IMAGE": Source.fromModelParameter("images"),
                                          "MASK": Source.fromModelParameter("masks"),
                                          "PATCH_SIZE": Source.fromModelParameter("patch_size"),
                                          "OUTPUT": Source.fromStaticValue("TEMPORARY_OUTPUT")})
    step("composition", "computeclasscomposition", 380, {"INPUT": Source.fromChildOutput("grid", "OUTPUT")})
    step("uniqueness", "computevisualuniqueness", 640, {"INPUT": Source.fromChildOutput("composition", "OUTPUT"),
                                                        "EMBEDDER": Source.fromModelParameter("embedder")})
    step("weights", "computesamplerweights", 900, {"INPUT": Source.fromChildOutput("uniqueness", "OUTPUT"),
                                                   "MAX_OVERSAMPLING": Source.fromModelParameter("max_oversampling")},
         outputs=[("Balanced patches", "OUTPUT"), ("Sampler CSV", "OUTPUT_CSV"), ("Balance report", "REPORT")])
    return model


def main():
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    OUT.parent.mkdir(exist_ok=True)
    if not build_model().toFile(str(OUT)):
        sys.exit(f"could not write {OUT}")
    print(f"Model: {OUT}")
    app.exitQgis()


if __name__ == "__main__":
    main()
