"""Registration, help, metadata and the plugin's load/unload in real QGIS."""
import configparser
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsGraduatedSymbolRenderer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
)

REPO = Path(__file__).resolve().parents[2]
EXPECTED_ALGORITHMS = sorted(f"patchbalancer:{name}" for name in (
    "createpatchgrid", "computeclasscomposition", "computevisualuniqueness", "computesamplerweights",
    "buildbalanceddataset", "planbalance", "splitpatches", "selectcoreset"))


def test_provider_lists_exactly_the_expected_algorithms(provider):
    registry = QgsApplication.processingRegistry()
    assert registry.providerById("patchbalancer") is provider
    ids = sorted(alg.id() for alg in provider.algorithms())
    assert ids == EXPECTED_ALGORITHMS
    for alg in provider.algorithms():
        assert alg.name() == alg.name().lower() and alg.name().isascii()
        assert alg.shortHelpString() and alg.displayName()
        for param in alg.parameterDefinitions():
            assert param.help(), f"{alg.id()} parameter {param.name()} has no help"
            assert param.name() == param.name().upper()
        ok, message = alg.canExecute()
        assert ok, message


def test_metadata_matches_running_qgis():
    meta = configparser.ConfigParser()
    meta.read(REPO / "metadata.txt")
    general = meta["general"]
    assert general["hasProcessingProvider"] == "yes"  # qgis_process loads the provider only then
    minimum = tuple(int(p) for p in general["qgisMinimumVersion"].split("."))
    maximum = tuple(int(p) for p in general["qgisMaximumVersion"].split("."))
    running = (Qgis.QGIS_VERSION_INT // 10000, Qgis.QGIS_VERSION_INT // 100 % 100)
    assert minimum <= running <= maximum
    assert (REPO / general["icon"]).is_file()
    # supportsQt6 is checked against the PyQt6 build test (tests/install/test_qt6.py), the plugin repository's
    # rules by scripts/check_package.py


def test_layer_is_styled_when_loaded_into_the_project(processing_run, data_dir):
    from processing.gui.Postprocessing import handleAlgorithmResults

    project = QgsProject.instance()
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = QgsProcessingFeedback()
    alg = QgsApplication.processingRegistry().createAlgorithmById("patchbalancer:buildbalanceddataset")
    params = {"IMAGE": str(data_dir / "lyon/image_rgb.tif"), "MASK": str(data_dir / "lyon/labels.tif"),
              "PATCH_SIZE": 64, "OUTPUT": QgsProcessingOutputLayerDefinition("TEMPORARY_OUTPUT", project)}
    results, ok = alg.run(params, context, feedback)
    assert ok
    handleAlgorithmResults(alg, context, feedback, False, results)
    # a temporary layer: named after its output and the input, so that runs can be told apart
    layers = project.mapLayersByName("Balanced patches — image_rgb")
    try:
        assert len(layers) == 1
        renderer = layers[0].renderer()
        assert isinstance(renderer, QgsGraduatedSymbolRenderer) and renderer.classAttribute() == "sampler_weight"
        assert renderer.ranges()[0].label() == "Excluded: never drawn"
        assert len(renderer.ranges()) >= 3
    finally:
        project.removeAllMapLayers()


def test_a_second_instance_neither_registers_nor_removes_the_session_provider(qgis_iface, provider):
    """That an unload removes the provider it registered is tested where it can fail without breaking this
    session: tests/qgis/plugin_lifecycle.py (a fresh QGIS, load/unload twice) and tests/install (stock QGIS)."""
    from patch_balancer.plugin import PatchBalancerPlugin

    second = PatchBalancerPlugin(qgis_iface)
    second.initProcessing()  # a second instance cannot register the same id twice
    registry = QgsApplication.processingRegistry()
    assert second.provider is None
    assert registry.providerById("patchbalancer") is provider
    second.unload()
    assert registry.providerById("patchbalancer") is provider
