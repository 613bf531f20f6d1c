"""The class balance dock: per-class shares raw vs. under the sampler weights, for one patch layer.

It follows its layer without a click: selection changes, edits, a reload or new fields schedule
one refresh after a short quiet period (debounced), so dragging a selection box or running the
field calculator costs one recomputation, not thousands. The numbers come from
`balance_core.class_balance`, the same function the report uses.
"""
from __future__ import annotations

import html

from qgis.core import QgsVectorLayer
from qgis.gui import QgsDockWidget
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtGui import QColor, QGuiApplication, QIcon, QPixmap
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..balance_core.class_balance import ClassBalance, balance_csv, balance_rows
from ..balance_core.legend import Legend, class_colour
from ..processing_provider.class_legend import stored_legend, stored_targets
from .balance_chart import BalanceChart, ChartEntry
from .patch_columns import PatchColumns, patch_layer_problem, read_feature, read_patch_columns

DEBOUNCE_MS = 150
COLUMNS = ("Class", "Raw", "Target", "Weighted", "Patches", "Min", "Max")


def _share(value: float, decimals: int = 2) -> str:
    return f"{value:.{decimals}%}".replace("%", " %")


def _ratio(value: float) -> str:
    return "–" if value != value else f"{value:.1f} : 1"


class ClassBalanceDock(QgsDockWidget):
    OBJECT_NAME = "PatchBalancerClassBalanceDock"

    def __init__(self, parent=None) -> None:
        super().__init__("Class balance", parent)
        self.setObjectName(self.OBJECT_NAME)
        self.layer: QgsVectorLayer | None = None
        self.columns: PatchColumns | None = None
        self.legend: Legend | None = None  # read when first shown: binding a layer costs nothing
        self.targets: dict = {}  # class_balance target share per class value, stored with the layer
        self.balance: ClassBalance | None = None
        self._connections: list = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)
        self._build()
        self.visibilityChanged.connect(self._on_visibility)
        self.set_layer(None)

    # -- widgets --------------------------------------------------------------------------------
    def _build(self) -> None:
        # Layer names and read errors reach these labels: plain text, so markup in a name is shown, not rendered.
        # The header is rich text built with html.escape around every name.
        self.message = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.header = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.figures = {key: QLabel(textFormat=Qt.TextFormat.PlainText)
                        for key in ("raw_imbalance", "weighted_imbalance", "ess", "oversampling")}
        grid = QGridLayout()
        grid.addWidget(QLabel("<i>raw</i>"), 0, 1)
        grid.addWidget(QLabel("<i>weighted</i>"), 0, 2)
        rows = (("Imbalance", ("raw_imbalance", "weighted_imbalance"),
                 "Share of the most frequent class over that of the rarest class present."),
                ("Effective sample size", ("ess",), "(Σw)² / Σw²: how many equally weighted patches the "
                                                   "weights are worth, of the patches that can be drawn."),
                ("Largest oversampling", ("oversampling",), "Largest weight over the mean weight: the most draws "
                                                           "of one patch in an epoch of as many draws as patches."))
        for row, (label, keys, tip) in enumerate(rows, start=1):
            title = QLabel(label)
            title.setToolTip(tip)
            grid.addWidget(title, row, 0)
            for col, key in enumerate(keys, start=1):
                self.figures[key].setTextInteractionFlags(Qt.TextSelectableByMouse)
                self.figures[key].setToolTip(tip)
                grid.addWidget(self.figures[key], row, col, 1, 2 if len(keys) == 1 else 1)
        grid.setColumnStretch(3, 1)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.NoSelection)  # "Copy as CSV" is the way out
        self.table.setFocusPolicy(Qt.NoFocus)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        for col, tip in ((1, "Raw share: share of the labelled pixels of all patches."),
                         (2, "Weighted share: share of the labelled pixels one epoch of WeightedRandomSampler (with replacement) "
                             "feeds the model, in expectation. Excluded patches are never drawn."),
                         (3, "Patches holding at least one pixel of the class."),
                         (4, "Smallest fraction of the class in one labelled patch."),
                         (5, "Largest fraction of the class in one labelled patch.")):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.chart = BalanceChart()
        chart_area = QScrollArea(widgetResizable=True, frameShape=QFrame.NoFrame)
        chart_area.setWidget(self.chart)  # many classes scroll instead of squashing
        self.selected_only = QCheckBox("Selected patches only")
        self.selected_only.setToolTip("Count only the selected patches, as if they were the whole dataset.")
        self.selected_only.toggled.connect(self.schedule_refresh)
        self.copy_button = QToolButton(text="Copy as CSV")
        self.copy_button.setToolTip("Copy the per-class table to the clipboard as CSV (full precision).")
        self.copy_button.clicked.connect(self.copy_csv)
        self.png_button = QToolButton(text="Export PNG…")
        self.png_button.setToolTip("Save the chart as a PNG image.")
        self.png_button.clicked.connect(self._ask_png_path)
        buttons = QHBoxLayout()
        buttons.addWidget(self.selected_only)
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.png_button)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.header)
        layout.addLayout(grid)
        layout.addWidget(self.table)
        layout.addWidget(chart_area, 1)
        layout.addLayout(buttons)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.message)
        self.pages.addWidget(content)
        self.setWidget(self.pages)

    # -- layer binding --------------------------------------------------------------------------
    def set_layer(self, layer) -> None:
        """Show this layer (any layer: a non-patch layer gets a short explanation)."""
        if layer is self.layer and layer is not None:
            return
        self._disconnect()
        self.layer = layer if isinstance(layer, QgsVectorLayer) else None
        self.columns, self.balance = None, None
        problem = patch_layer_problem(layer)
        if problem:
            self.layer = None
            self._show_message(problem)
            return
        self.legend = None
        signals = (
            (layer.selectionChanged, self.schedule_refresh),  # the header counts the selection too
            (layer.attributeValueChanged, self._on_value),
            (layer.featureAdded, self._on_added),
            (layer.featuresDeleted, self._on_deleted),
            (layer.updatedFields, self._invalidate),
            (layer.afterRollBack, self._invalidate),
            (layer.subsetStringChanged, self._invalidate),
            (layer.dataSourceChanged, self._invalidate),
            (layer.dataChanged, self._on_data_changed),
            (layer.customPropertyChanged, self._on_legend_changed),
            (layer.styleLoaded, self._on_legend_changed),
            (layer.willBeDeleted, self._on_layer_deleted),
        )
        for signal, slot in signals:
            signal.connect(slot)
            self._connections.append((signal, slot))
        self.schedule_refresh()

    def _disconnect(self) -> None:
        for signal, slot in self._connections:
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):  # the layer is already gone
                pass
        self._connections = []

    def release(self) -> None:
        """Let go of the layer and stop the timer (before the plugin deletes the dock)."""
        self._timer.stop()
        self._disconnect()
        self.layer = self.columns = None

    def layers_added(self, layers) -> None:
        """A new patch layer (e.g. the output of a re-run) takes over the dock."""
        patch_layers = [lay for lay in layers if patch_layer_problem(lay) is None]
        if patch_layers:
            self.set_layer(patch_layers[-1])

    def _on_layer_deleted(self) -> None:
        self._disconnect()
        self.layer = self.columns = None
        self._show_message(patch_layer_problem(None))

    # -- change tracking: cheap bookkeeping now, one recomputation later ------------------------
    def schedule_refresh(self, *_args) -> None:
        self._timer.start()

    def _on_visibility(self, visible: bool) -> None:
        if visible:
            self.schedule_refresh()

    def _invalidate(self, *_args) -> None:
        self.columns = None
        self.schedule_refresh()

    def _on_value(self, fid, index, value) -> None:
        if self.columns is not None and 0 <= index < self.layer.fields().count():
            self.columns.set_value(fid, self.layer.fields().at(index).name(), value)
        self.schedule_refresh()

    def _on_added(self, fid) -> None:
        if self.columns is not None:
            self.columns.insert(fid, read_feature(self.layer, fid))
        self.schedule_refresh()

    def _on_deleted(self, fids) -> None:
        if self.columns is not None:
            self.columns.delete(fids)
        self.schedule_refresh()

    def _on_data_changed(self) -> None:
        """Edits in an edit session were applied cell by cell; anything else (reload, commit) rereads."""
        if self.layer is not None and not self.layer.isEditable():
            self._invalidate()

    def _on_legend_changed(self, *_args) -> None:
        self.legend = None
        self.schedule_refresh()

    # -- computing and showing ------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute now (the debounce timer calls this; tests and benchmarks may too)."""
        self._timer.stop()
        layer = self.layer
        if layer is None or sip.isdeleted(layer):
            return
        if self.isHidden():
            return  # recomputed when shown again: a closed dock costs nothing
        try:
            if self.legend is None:
                self.legend, self.targets = stored_legend(layer), stored_targets(layer)
            if self.columns is None:
                self.columns = read_patch_columns(layer)
            selected = layer.selectedFeatureIds()
            rows = self.columns.rows(selected) if self.selected_only.isChecked() else None
            self.balance = self.columns.balance(rows)
        except Exception as exc:  # noqa: BLE001 - a viewer on a timer: say what failed, never a traceback dialog
            self.columns = self.balance = None
            self._show_message(f"Could not read “{layer.name()}”: {exc}")
            return
        self._show(layer, self.balance, len(selected))

    def _show_message(self, text: str) -> None:
        self._timer.stop()
        self.message.setText(text)
        self.pages.setCurrentIndex(0)
        self.table.setRowCount(0)
        self.chart.set_entries([])

    def _show(self, layer: QgsVectorLayer, balance: ClassBalance, n_selected: int) -> None:
        self.pages.setCurrentIndex(1)
        scope = "selected patches" if self.selected_only.isChecked() else "patches"
        header = [f"<b>{html.escape(layer.name())}</b>: {balance.n_patches:,} {scope}, {balance.n_drawable:,} drawable, "
                  f"{n_selected:,} selected."]
        if not self.columns.has_weights:
            header.append("No <i>sampler_weight</i> field yet: “weighted” assumes every patch that is not "
                          "excluded is drawn equally. Run 'Compute sampler weights' for real weights.")
        if self.selected_only.isChecked() and balance.n_patches == 0:
            header.append("No patch is selected: select patches on the map or in the attribute table.")
        self.header.setText("<br>".join(header))
        self.figures["raw_imbalance"].setText(_ratio(balance.raw_imbalance))
        self.figures["weighted_imbalance"].setText(_ratio(balance.weighted_imbalance))
        self.figures["ess"].setText(f"{balance.effective_sample_size:,.1f} of {balance.n_drawable:,} drawable")
        self.figures["oversampling"].setText(f"{balance.max_oversampling:.2f} × the mean weight")
        rows = balance_rows(balance, self.legend, self.targets)
        entries = []
        self.table.setRowCount(len(rows))
        for r, (value, name, raw, target, weighted, patches, low, high) in enumerate(rows):
            colour = class_colour(self.legend, value, r)
            entries.append(ChartEntry(name, colour, raw, weighted))
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(colour))
            cells = (name, _share(raw), "–" if target is None else _share(target), _share(weighted), f"{patches:,}",
                     _share(low, 1), _share(high, 1))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(int((Qt.AlignLeft if c == 0 else Qt.AlignRight) | Qt.AlignVCenter))
                if c == 0:
                    item.setIcon(QIcon(swatch))
                    item.setToolTip(f"class value {value}")
                self.table.setItem(r, c, item)
        self._fit_table()
        self.chart.set_entries(entries)

    def _fit_table(self, most_rows: int = 8) -> None:
        """As tall as its rows (up to `most_rows`, then it scrolls): the chart gets the rest."""
        table = self.table
        table.resizeColumnsToContents()
        shown = min(table.rowCount(), most_rows)
        height = table.horizontalHeader().height() + 2 * table.frameWidth()
        height += sum(max(table.rowHeight(r), table.verticalHeader().defaultSectionSize()) for r in range(shown))
        room = table.width() - 2 * table.frameWidth()
        if table.rowCount() > most_rows:
            room -= table.verticalScrollBar().sizeHint().width()
        if table.horizontalHeader().length() > room:
            height += table.horizontalScrollBar().sizeHint().height()
        table.setFixedHeight(height)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt)
        super().resizeEvent(event)
        self._fit_table()

    # -- export ---------------------------------------------------------------------------------
    def csv_text(self) -> str:
        return balance_csv(self.balance, self.legend or {}, self.targets) if self.balance is not None else ""

    def copy_csv(self) -> None:
        QGuiApplication.clipboard().setText(self.csv_text())

    def export_png(self, path: str) -> bool:
        return self.chart.to_image().save(path, "PNG")

    def _ask_png_path(self) -> None:
        dialog = QFileDialog(self, "Export the class balance chart", "", "PNG image (*.png)")
        dialog.setAcceptMode(QFileDialog.AcceptSave)  # asks before overwriting a file
        dialog.setDefaultSuffix("png")
        if dialog.exec_() and dialog.selectedFiles():
            path = dialog.selectedFiles()[0]
            if not self.export_png(path):
                QMessageBox.warning(self, "Class balance", f"Could not write {path}.")

