"""Every algorithm dialog fits QGIS's default dialog size: no parameter widget wider than the parameters panel
(a wider one pushes the '…' buttons past the right edge). Measured on the real dialogs QGIS opens from the
Toolbox (processing.createAlgorithmDialog), at the size QGIS gives a dialog it has no saved geometry for."""
import os
from pathlib import Path

import pytest
from qgis.core import QgsSettings
from qgis.PyQt.QtWidgets import QApplication, QCheckBox, QComboBox, QLabel, QScrollArea

REPO = Path(__file__).resolve().parents[2]
TEST_OUTPUT = Path(os.environ.get("PATCH_BALANCER_TEST_OUTPUT", REPO / "test_output"))
ALGORITHMS = ("buildbalanceddataset", "createpatchgrid", "computeclasscomposition", "computevisualuniqueness",
              "computesamplerweights", "planbalance", "splitpatches")


@pytest.fixture(scope="module")
def dialog_factory(provider):
    import processing
    import qgis.utils
    from qgis.gui import QgsBrowserGuiModel

    if not hasattr(qgis.utils.iface, "browserModel"):  # pytest-qgis's iface lacks what the parameters panel asks for
        model = QgsBrowserGuiModel()
        qgis.utils.iface.browserModel = lambda: model
    settings = QgsSettings()

    def open_dialog(alg_id):
        settings.remove("Windows/QgsProcessingDialogBase/geometry")  # QGIS's default size, not a remembered one
        dialog = processing.createAlgorithmDialog(alg_id)
        dialog.show()
        QApplication.processEvents()
        return dialog

    return open_dialog


@pytest.mark.parametrize("name", ALGORITHMS)
def test_the_dialog_fits_qgis_default_size(dialog_factory, name):
    dialog = dialog_factory(f"patchbalancer:{name}")
    native = dialog_factory("native:buffer")  # a dialog of QGIS's own, for the default size
    try:
        default_width = native.width()
        assert dialog.width() == default_width
        assert dialog.minimumSizeHint().width() <= default_width
        scroll = dialog.mainWidget().findChild(QScrollArea)
        content = scroll.widget()
        room = scroll.viewport().width()
        assert content.minimumSizeHint().width() <= room, (
            name, content.minimumSizeHint().width(), room, widest(content))
        # the text of each option and label is shown whole
        for combo in content.findChildren(QComboBox):
            for i in range(combo.count()):
                assert combo.fontMetrics().horizontalAdvance(combo.itemText(i)) + 40 <= room, combo.itemText(i)
        TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
        assert dialog.grab().save(str(TEST_OUTPUT / f"dialog_{name}.png"))
    finally:
        for d in (dialog, native):
            d.close()
            d.deleteLater()


def widest(content):
    widgets = [w for w in content.findChildren((QLabel, QCheckBox, QComboBox)) if w.isVisible()]
    best = max(widgets, key=lambda w: w.minimumSizeHint().width())
    text = best.currentText() if isinstance(best, QComboBox) else best.text()
    return f"{type(best).__name__} {text!r}: {best.minimumSizeHint().width()} px"


@pytest.mark.parametrize("name", ["buildbalanceddataset", "computevisualuniqueness"])
def test_the_embeddings_cache_is_a_file_to_pick_not_a_skipped_output(dialog_factory, name):
    from qgis.gui import QgsFileWidget

    dialog = dialog_factory(f"patchbalancer:{name}")
    try:
        widget = dialog.mainWidget().wrappers["EMBEDDINGS_CACHE"].wrappedWidget()
        assert isinstance(widget, QgsFileWidget)  # an output would show "[Skip output]" although it is read too
        assert "Skip output" not in widget.lineEdit().placeholderText()
        assert "EMBEDDINGS_CACHE" not in [p.name() for p in dialog.algorithm().destinationParameterDefinitions()]
        assert "EMBEDDINGS_CACHE" in [o.name() for o in dialog.algorithm().outputDefinitions()]  # still returned
    finally:
        dialog.close()
        dialog.deleteLater()
