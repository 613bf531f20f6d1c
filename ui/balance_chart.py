"""Grouped bar chart of class shares, raw vs. weighted, painted with QPainter (no web view).

One row per class: the raw share as a hatched bar, the weighted share as a solid bar, both in
the class colour. Text, axis and outlines take their colours from the widget's palette, so the
chart reads in light and dark themes; a thin outline in the text colour keeps a class colour
close to the background visible.
"""
from __future__ import annotations

from dataclasses import dataclass

from qgis.PyQt.QtCore import QPointF, QRectF, QSize, Qt
from qgis.PyQt.QtGui import QBrush, QColor, QFont, QFontMetrics, QImage, QPainter, QPalette, QPen
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget

from ..balance_core.share_axis import LOG_SCALE_RATIO, ShareAxis, share_axis, tick_label  # noqa: F401 (re-exported)

GAP, PAD = 8, 8  # gap between classes, outer padding (px)


@dataclass(frozen=True)
class ChartEntry:
    name: str
    colour: str  # "#rrggbb"
    raw: float  # share, 0..1
    weighted: float


class BalanceChart(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.entries: list[ChartEntry] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(60)

    def set_entries(self, entries: list[ChartEntry]) -> None:
        self.entries = list(entries)
        self.setMinimumHeight(self.sizeHint().height())
        self.updateGeometry()
        self.update()

    def value_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 0.85)
        return font

    def bar_height(self) -> int:
        """Tall enough for the share printed beside each bar."""
        return max(QFontMetrics(self.value_font()).height(), 10)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt)
        line = QFontMetrics(self.font()).height()
        rows = max(len(self.entries), 1) * (2 * self.bar_height() + GAP)
        return QSize(320, 2 * PAD + line + GAP + rows + QFontMetrics(self.value_font()).height())

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt)
        painter = QPainter(self)
        try:
            self.paint(painter, QRectF(self.rect()))
        finally:
            painter.end()

    def to_image(self, scale: float = 2.0) -> QImage:
        """The chart as an image at `scale` × its size (a hidden chart uses its size hint)."""
        size = self.size() if self.isVisible() else self.sizeHint()
        image = QImage(int(size.width() * scale), int(size.height() * scale), QImage.Format.Format_ARGB32)
        image.setDevicePixelRatio(scale)
        painter = QPainter(image)
        try:
            self.paint(painter, QRectF(0, 0, size.width(), size.height()), fill=True)
        finally:
            painter.end()
        return image

    def paint(self, painter: QPainter, rect: QRectF, fill: bool = False) -> None:
        palette = self.palette()
        text, grid = palette.color(QPalette.ColorRole.WindowText), palette_neutral(palette)
        if fill:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Window))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setFont(self.font())
        metrics = QFontMetrics(self.font())
        line = metrics.height()
        painter.setPen(text)
        if not self.entries:
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "No class to draw")
            return
        bar, small = self.bar_height(), self.value_font()
        x0, y = rect.left() + PAD, rect.top() + PAD
        self._legend(painter, x0, y, line, text, share_axis([s for e in self.entries for s in (e.raw, e.weighted)]).log)
        y += line + GAP
        label_w = min(max(metrics.horizontalAdvance(e.name) for e in self.entries) + 12, rect.width() * 0.35)
        value_w = QFontMetrics(small).horizontalAdvance("100.0 %") + 6
        bar_x = x0 + label_w
        bar_w = max(rect.right() - PAD - value_w - bar_x, 10.0)
        axis = share_axis([s for e in self.entries for s in (e.raw, e.weighted)])
        bottom = y + len(self.entries) * (2 * bar + GAP) - GAP
        self._axis(painter, axis, bar_x, bar_w, y, bottom, small, grid, text)
        for i, entry in enumerate(self.entries):
            colour = QColor(entry.colour)
            painter.setPen(text)
            painter.setFont(self.font())
            name = metrics.elidedText(entry.name, Qt.TextElideMode.ElideRight, int(label_w - 6))
            painter.drawText(QRectF(x0, y, label_w - 6, 2 * bar), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            painter.setFont(small)
            for j, (share, hatched) in enumerate(((entry.raw, True), (entry.weighted, False))):
                length = max(bar_w * axis.position(share), 2.0 if share > 0 else 0.0)
                box = QRectF(bar_x, y + j * bar, length, bar - 1)
                self._bar(painter, box, colour, hatched, text)
                painter.setPen(text)
                painter.drawText(QRectF(box.right() + 4, box.top(), value_w, bar), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 f"{share:.1%}".replace("%", " %"))
            y += 2 * bar + GAP

    @staticmethod
    def _axis(painter: QPainter, axis: ShareAxis, x: float, width: float, top: float, bottom: float,
              font: QFont, grid: QColor, text: QColor) -> None:
        """Gridlines at the ticks behind the bars, tick labels under them."""
        painter.setFont(font)
        line = QFontMetrics(font).height()
        for tick in axis.ticks():
            tx = x + width * axis.position(tick) if tick > 0 else x
            painter.setPen(QPen(grid, 1, Qt.PenStyle.DotLine if tick > 0 else Qt.PenStyle.SolidLine))
            painter.drawLine(QPointF(tx, top - 2), QPointF(tx, bottom + 2))
            painter.setPen(text)
            painter.drawText(QRectF(tx - 40, bottom + 3, 80, line), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, tick_label(tick))

    @staticmethod
    def _bar(painter: QPainter, bar: QRectF, colour: QColor, hatched: bool, outline: QColor) -> None:
        if bar.width() <= 0:
            return
        edge = QColor(outline)
        edge.setAlpha(140)
        painter.setPen(QPen(edge, 1))
        if hatched:
            faint = QColor(colour)
            faint.setAlpha(70)
            painter.setBrush(QBrush(faint))
            painter.drawRect(bar)
            painter.setBrush(QBrush(colour, Qt.BrushStyle.BDiagPattern))
        else:
            painter.setBrush(QBrush(colour))
        painter.drawRect(bar)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _legend(self, painter: QPainter, x: float, y: float, line: int, text: QColor, log: bool) -> None:
        swatch = QColor(palette_neutral(self.palette()))
        metrics = QFontMetrics(self.font())
        for label, hatched in (("raw", True), ("weighted", False)):
            self._bar(painter, QRectF(x, y + 2, 18, line - 4), swatch, hatched, text)
            painter.setPen(text)
            width = metrics.horizontalAdvance(label)
            painter.drawText(QRectF(x + 22, y, width + 4, line), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
            x += 22 + width + 16
        if log:
            painter.drawText(QRectF(x, y, metrics.horizontalAdvance("log scale") + 4, line),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "log scale")


def palette_neutral(palette: QPalette) -> QColor:
    """A grey half-way between background and text: visible on light and dark backgrounds."""
    a, b = palette.color(QPalette.ColorRole.Window), palette.color(QPalette.ColorRole.WindowText)
    return QColor((a.red() + b.red()) // 2, (a.green() + b.green()) // 2, (a.blue() + b.blue()) // 2)
