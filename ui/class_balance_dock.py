"""The class balance dock: per-class shares raw vs. under the sampler weights, for one patch layer.

It follows its layer without a click: selection changes, edits, a reload or new fields schedule
one refresh after a short quiet period (debounced), so dragging a selection box or running the
field calculator costs one recomputation, not thousands. The numbers come from
`balance_core.class_balance`, the same function the report uses.
"""
from __future__ import annotations

import html

from qgis.core import QgsApplication, QgsVectorLayer
from qgis.gui import QgsDockWidget
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtGui import QColor, QGuiApplication, QIcon, QPixmap
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QScrollArea,
    QSplitter,
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
from .patch_columns import PatchColumns, patch_layer_problem, read_feature, start_reading

DEBOUNCE_MS = 150
COLUMNS = ("Class", "Raw", "Target", "Weighted", "Patches", "Min", "Max")


def _share(value: float, decimals: int = 2) -> str:
    return f"{value:.{decimals}%}".replace("%", " %") if _finite(value) else "–"


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


def _ratio(value: float) -> str:
    if not _finite(value):
        return "–"
    return f"{value:.1f} : 1" if value < 100 else f"{value:,.0f} : 1"


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
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.figures = {key: QLabel(textFormat=Qt.TextFormat.PlainText)
                        for key in ("raw_imbalance", "weighted_imbalance", "ess", "oversampling")}
        grid = QGridLayout()
        grid.setVerticalSpacing(2)
        grid.setHorizontalSpacing(8)
        imbalance_tip = ("Share of the most frequent class over that of the rarest class present: raw → under the "
                         "sampler weights (what one epoch draws).")
        rows = (("Imbalance (raw → drawn)", imbalance_tip),
                ("Effective sample size", "(Σw)² / Σw²: how many equally weighted patches the weights are worth, of "
                                          "the patches that can be drawn."),
                ("Largest oversampling", "Largest weight over the mean weight: the most draws of one patch in an "
                                         "epoch of as many draws as patches."))
        for row, (label, tip) in enumerate(rows):
            title = QLabel(label)
            title.setToolTip(tip)
            grid.addWidget(title, row, 0)
        imbalance = QHBoxLayout()
        imbalance.setSpacing(4)
        imbalance.addWidget(self.figures["raw_imbalance"])
        imbalance.addWidget(QLabel("→"))
        imbalance.addWidget(self.figures["weighted_imbalance"])
        imbalance.addStretch(1)
        grid.addLayout(imbalance, 0, 1)
        grid.addWidget(self.figures["ess"], 1, 1)
        grid.addWidget(self.figures["oversampling"], 2, 1)
        for key, figure in self.figures.items():
            figure.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            figure.setToolTip(rows[0 if "imbalance" in key else 1 if key == "ess" else 2][1])
        grid.setColumnStretch(1, 1)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)  # "Copy as CSV" is the way out
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setVerticalScrollMode(QTableWidget.ScrollMode.ScrollPerPixel)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)  # compact rows
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # sized by _fit_table
        header.setStretchLastSection(False)
        tips = {"Raw": "Raw share: share of the labelled pixels of all patches.",
                "Target": "The class share the weights aim at (class_balance); – for other methods.",
                "Weighted": "Weighted share: share of the labelled pixels one epoch of WeightedRandomSampler (with "
                            "replacement) feeds the model, in expectation. Excluded patches are never drawn.",
                "Patches": "Patches holding at least one pixel of the class.",
                "Min": "Smallest fraction of the class in one labelled patch.",
                "Max": "Largest fraction of the class in one labelled patch."}
        for col, name in enumerate(COLUMNS):
            if name in tips:
                self.table.horizontalHeaderItem(col).setToolTip(tips[name])
        self.chart = BalanceChart()
        self.chart_area = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self.chart_area.setWidget(self.chart)  # many classes (or a short dock) scroll instead of squashing
        self.chart_area.setMinimumHeight(40)
        self.selected_only = QCheckBox("Selected only")
        self.selected_only.setToolTip("Count only the selected patches, as if they were the whole dataset.")
        self.selected_only.toggled.connect(self.schedule_refresh)
        # a layer split by 'Split patches': every figure for one split, as if it were the whole dataset
        self.split_choice = QComboBox()
        self.split_choice.addItem("All splits", "")
        self.split_choice.setToolTip("Count only the patches of one split (the split field written by 'Split "
                                     "patches'), as if they were the whole dataset.")
        self.split_choice.setVisible(False)
        self.split_choice.currentIndexChanged.connect(self.schedule_refresh)
        self.copy_button = QToolButton(text="Copy CSV")
        self.copy_button.setIcon(QgsApplication.getThemeIcon("/mActionEditCopy.svg"))
        self.copy_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.copy_button.setAutoRaise(True)
        self.copy_button.setToolTip("Copy as CSV: the per-class table to the clipboard (full precision).")
        self.copy_button.clicked.connect(self.copy_csv)
        self.png_button = QToolButton(text="PNG…")
        self.png_button.setIcon(QgsApplication.getThemeIcon("/mActionSaveMapAsImage.svg"))
        self.png_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.png_button.setAutoRaise(True)
        self.png_button.setToolTip("Export PNG…: save the chart as an image (twice the screen resolution).")
        self.png_button.clicked.connect(self._ask_png_path)
        self.pin_button = QToolButton()
        self.pin_button.setIcon(QgsApplication.getThemeIcon("/pin.svg"))
        self.pin_button.setCheckable(True)
        self.pin_button.setAutoRaise(True)
        self.pin_button.setToolTip("Stay on this layer: selecting another layer in the Layers panel, or a new "
                                   "patch layer from a run, does not change what the dock shows.")
        self.pin_button.toggled.connect(self._on_pin)
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        buttons.addWidget(self.selected_only)
        buttons.addWidget(self.split_choice)
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.png_button)
        buttons.addWidget(self.pin_button)

        # Table and chart share what height there is: the table keeps its rows (up to a few, then it scrolls),
        # the chart gets the rest and scrolls; the handle between them moves.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.chart_area)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addLayout(buttons)
        layout.addLayout(grid)
        layout.addWidget(self.splitter, 1)
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
            # the header counts the selection too; straight to the timer's C++ slot: a Python slot would have
            # PyQt convert the selected and deselected ids to Python sets at every change (tens of ms at 100k)
            (layer.selectionChanged, self._timer.start),
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

    def follow(self, layer) -> None:
        """The active layer changed in the Layers panel: show it, unless the dock is pinned to its layer, or it
        is not a patch layer (a click on the imagery below) while the dock shows one."""
        if self.layer is not None and (self.pinned or patch_layer_problem(layer) is not None):
            return
        self.set_layer(layer)

    @property
    def pinned(self) -> bool:
        return self.pin_button.isChecked()

    def _on_pin(self, pinned: bool) -> None:
        self.pin_button.setToolTip(
            "Pinned: the dock stays on this layer. Click to follow the active layer again." if pinned else
            "Stay on this layer: selecting another layer in the Layers panel, or a new patch layer from a run, "
            "does not change what the dock shows.")

    def layers_added(self, layers) -> None:
        """A new patch layer (e.g. the output of a re-run) takes over the dock, unless it is pinned."""
        patch_layers = [lay for lay in layers if patch_layer_problem(lay) is None]
        if patch_layers and not (self.pinned and self.layer is not None):
            self.set_layer(patch_layers[-1])

    def _on_layer_deleted(self) -> None:
        self._disconnect()
        self.layer = self.columns = None
        self.pin_button.setChecked(False)  # nothing left to stay on
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
            # a file layer is read by GDAL in a worker thread while this one reads the legend
            columns = start_reading(layer) if self.columns is None else None
            if self.legend is None:
                self.legend, self.targets = stored_legend(layer), stored_targets(layer)
            if columns is not None:
                self.columns = columns()
            n_selected = layer.selectedFeatureCount()
            rows = self.columns.rows(layer.selectedFeatureIds()) if self.selected_only.isChecked() else None
            split = self._sync_splits()
            if split:
                rows = self.columns.split_rows(split, rows)
            self.balance = self.columns.balance(rows)
        except Exception as exc:  # noqa: BLE001 - a viewer on a timer: say what failed, never a traceback dialog
            self.columns = self.balance = None
            self._show_message(f"Could not read “{layer.name()}”: {exc}")
            return
        self._show(layer, self.balance, n_selected)

    def _sync_splits(self) -> str:
        """The split choice lists the layer's split values (shown only when it has some); '' = all splits."""
        values = self.columns.split_values() if self.columns is not None else []
        current = self.split_choice.currentData() or ""
        if [self.split_choice.itemData(i) for i in range(1, self.split_choice.count())] != values:
            self.split_choice.blockSignals(True)
            self.split_choice.clear()
            self.split_choice.addItem("All splits", "")
            for value in values:
                self.split_choice.addItem(value, value)
            self.split_choice.setCurrentIndex(max(self.split_choice.findData(current), 0))
            self.split_choice.blockSignals(False)
        self.split_choice.setVisible(bool(values))
        return self.split_choice.currentData() or ""

    def _show_message(self, text: str) -> None:
        self._timer.stop()
        self.message.setText(text)
        self.pages.setCurrentIndex(0)
        self.table.setRowCount(0)
        self.chart.set_entries([])

    def _show(self, layer: QgsVectorLayer, balance: ClassBalance, n_selected: int) -> None:
        self.pages.setCurrentIndex(1)
        name = f"<b>{html.escape(layer.name())}</b>"
        if self.selected_only.isChecked():
            counts = f"{balance.n_patches:,} selected patches, {balance.n_drawable:,} drawable"
        else:
            counts = f"{balance.n_patches:,} patches, {balance.n_drawable:,} drawable"
            if n_selected:
                counts += f", {n_selected:,} selected"
        split = self.split_choice.currentData() or ""
        if split:  # plain figures for one split: say which
            name += f", split “{html.escape(split)}”"
        header = [f"{name}: {counts}"]
        if not self.columns.has_weights:
            header.append("No <i>sampler_weight</i> field yet: “weighted” assumes every patch that is not "
                          "excluded is drawn equally. Run 'Compute sampler weights' for real weights.")
        if self.selected_only.isChecked() and balance.n_patches == 0:
            header.append("No patch is selected: select patches on the map or in the attribute table.")
        self.header.setText("<br>".join(header))
        self.figures["raw_imbalance"].setText(_ratio(balance.raw_imbalance))
        self.figures["weighted_imbalance"].setText(_ratio(balance.weighted_imbalance))
        drawn = balance.n_drawable > 0  # nothing drawable: no sample size, no oversampling ("–", not "0.00")
        ess, peak = balance.effective_sample_size, balance.max_oversampling
        self.figures["ess"].setText(f"{ess:,.1f} of {balance.n_drawable:,}" if drawn and _finite(ess) else "–")
        self.figures["oversampling"].setText(f"{peak:.2f} × the mean" if drawn and _finite(peak) and peak > 0 else "–")
        rows = balance_rows(balance, self.legend, self.targets)
        entries = []
        self.table.setRowCount(len(rows))
        for r, (value, name, raw, target, weighted, patches, low, high) in enumerate(rows):
            colour = class_colour(self.legend, value, r)
            entries.append(ChartEntry(name, colour, raw, weighted))
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(colour))
            held = patches > 0  # a class no patch holds (e.g. outside the selection) has no smallest/largest share
            cells = (name, _share(raw), "–" if target is None else _share(target), _share(weighted), f"{patches:,}",
                     _share(low, 1) if held else "–", _share(high, 1) if held else "–")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                horizontal = Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight
                item.setTextAlignment(int(horizontal | Qt.AlignmentFlag.AlignVCenter))
                if c == 0:
                    item.setIcon(QIcon(swatch))
                    item.setToolTip(f"class value {value}")
                self.table.setItem(r, c, item)
        self._fit_table()
        self.chart.set_entries(entries)

    def _fit_table(self, least_rows: int = 5) -> None:
        """Never taller than its rows, and at least `least_rows` of them tall (more rows scroll): in a short dock
        the chart below gives up its height first, and scrolls."""
        table = self.table
        # Each column as wide as its contents; spare width goes to the class names (Qt's Stretch mode kept a
        # stretched column wide after the dock narrowed again, pushing the numbers out of sight).
        header = table.horizontalHeader()
        widths = [max(table.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(table.columnCount())]
        spare = table.viewport().width() - sum(widths)
        if spare > 0 and widths:
            widths[0] += spare
        for column, width in enumerate(widths):
            header.resizeSection(column, width)
        header = table.horizontalHeader().height() + 2 * table.frameWidth()
        heights = [max(table.rowHeight(r), table.verticalHeader().defaultSectionSize()) for r in range(table.rowCount())]
        room = table.viewport().width() if table.isVisible() else table.width() - 2 * table.frameWidth()
        scrollbar = table.horizontalScrollBar().sizeHint().height() if table.horizontalHeader().length() > room else 0
        most, least = header + sum(heights) + scrollbar, header + sum(heights[:least_rows]) + scrollbar
        table.setMaximumHeight(most)
        table.setMinimumHeight(least)
        total = sum(self.splitter.sizes())
        if total > 0:  # the table as tall as its rows allow, the chart the rest (no gap under the table)
            wanted = min(most, max(least, total - self.chart_area.minimumHeight() - self.splitter.handleWidth()))
            self.splitter.setSizes([wanted, total - wanted])

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
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)  # asks before overwriting a file
        dialog.setDefaultSuffix("png")
        if dialog.exec() and dialog.selectedFiles():
            path = dialog.selectedFiles()[0]
            if not self.export_png(path):
                QMessageBox.warning(self, "Class balance", f"Could not write {path}.")

