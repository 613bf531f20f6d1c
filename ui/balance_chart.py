"""Grouped bar chart of class shares, raw vs. weighted, painted with QPainter (no web view).

One row per class: the raw share as a hatched bar, the weighted share as a solid bar, both in
the class colour. Text, axis and outlines take their colours from the widget's palette, so the
chart reads in light and dark themes; a thin outline in the text colour keeps a class colour
close to the background visible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from qgis.PyQt.QtCore import QPointF, QRectF, QSize, Qt
from qgis.PyQt.QtGui import QBrush, QColor, QFont, QFontMetrics, QImage, QPainter, QPalette, QPen
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget

GAP, PAD = 8, 8  # gap between classes, outer padding (px)
LOG_SCALE_RATIO = 20.0  # largest / smallest share shown above which the bars use a log scale


@dataclass(frozen=True)
class ChartEntry:
    name: str
    colour: str  # "#rrggbb"
    raw: float  # share, 0..1
    weighted: float


@dataclass(frozen=True)
class ShareAxis:
    """Where a share falls along the bars: linear from 0, or log over whole decades.

    Under 97 % background a linear axis draws the rare classes as slivers, which hides exactly
    the change the weights make to them; past LOG_SCALE_RATIO the axis turns logarithmic.
    """
    low: float
    high: float
    log: bool

    def position(self, share: float) -> float:
        """0..1 along the bar area; 0 for an absent class."""
        if share <= 0:
            return 0.0
        if self.log:
            span = math.log10(self.high) - math.log10(self.low)
            return min(max((math.log10(share) - math.log10(self.low)) / span, 0.0), 1.0)
        return min(share / self.high, 1.0)

    def ticks(self) -> list[float]:
        if self.log:
            first, last = round(math.log10(self.low)), round(math.log10(self.high))
            return [10.0**k for k in range(first, last + 1)]
        return [0.0, self.high / 2, self.high]


def share_axis(shares) -> ShareAxis:
    positive = [float(s) for s in shares if s > 0]
    if not positive:
        return ShareAxis(0.0, 1.0, False)
    low, high = min(positive), max(positive)
    if high / low > LOG_SCALE_RATIO:
        # at least a factor 2 below the smallest share, so its bar is never empty
        return ShareAxis(10.0 ** math.floor(math.log10(low / 2)), min(10.0 ** math.ceil(math.log10(high)), 1.0), True)
    return ShareAxis(0.0, high, False)


def tick_label(share: float) -> str:
    return f"{share * 100:.3g} %"


class BalanceChart(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.entries: list[ChartEntry] = []
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
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
        image = QImage(int(size.width() * scale), int(size.height() * scale), QImage.Format_ARGB32)
        image.setDevicePixelRatio(scale)
        painter = QPainter(image)
        try:
            self.paint(painter, QRectF(0, 0, size.width(), size.height()), fill=True)
        finally:
            painter.end()
        return image

    def paint(self, painter: QPainter, rect: QRectF, fill: bool = False) -> None:
        palette = self.palette()
        text, grid = palette.color(QPalette.WindowText), palette_neutral(palette)
        if fill:
            painter.fillRect(rect, palette.color(QPalette.Window))
        painter.setRenderHint(QPainter.Antialiasing, False)
        painter.setFont(self.font())
        metrics = QFontMetrics(self.font())
        line = metrics.height()
        painter.setPen(text)
        if not self.entries:
            painter.drawText(rect, Qt.AlignCenter, "No class to draw")
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
            name = metrics.elidedText(entry.name, Qt.ElideRight, int(label_w - 6))
            painter.drawText(QRectF(x0, y, label_w - 6, 2 * bar), Qt.AlignRight | Qt.AlignVCenter, name)
            painter.setFont(small)
            for j, (share, hatched) in enumerate(((entry.raw, True), (entry.weighted, False))):
                length = max(bar_w * axis.position(share), 2.0 if share > 0 else 0.0)
                box = QRectF(bar_x, y + j * bar, length, bar - 1)
                self._bar(painter, box, colour, hatched, text)
                painter.setPen(text)
                painter.drawText(QRectF(box.right() + 4, box.top(), value_w, bar), Qt.AlignLeft | Qt.AlignVCenter,
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
            painter.setPen(QPen(grid, 1, Qt.DotLine if tick > 0 else Qt.SolidLine))
            painter.drawLine(QPointF(tx, top - 2), QPointF(tx, bottom + 2))
            painter.setPen(text)
            painter.drawText(QRectF(tx - 40, bottom + 3, 80, line), Qt.AlignHCenter | Qt.AlignTop, tick_label(tick))

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
            painter.setBrush(QBrush(colour, Qt.BDiagPattern))
        else:
            painter.setBrush(QBrush(colour))
        painter.drawRect(bar)
        painter.setBrush(Qt.NoBrush)

    def _legend(self, painter: QPainter, x: float, y: float, line: int, text: QColor, log: bool) -> None:
        swatch = QColor(palette_neutral(self.palette()))
        metrics = QFontMetrics(self.font())
        for label, hatched in (("raw", True), ("weighted", False)):
            self._bar(painter, QRectF(x, y + 2, 18, line - 4), swatch, hatched, text)
            painter.setPen(text)
            width = metrics.horizontalAdvance(label)
            painter.drawText(QRectF(x + 22, y, width + 4, line), Qt.AlignLeft | Qt.AlignVCenter, label)
            x += 22 + width + 16
        if log:
            painter.drawText(QRectF(x, y, metrics.horizontalAdvance("log scale") + 4, line),
                             Qt.AlignLeft | Qt.AlignVCenter, "log scale")


def palette_neutral(palette: QPalette) -> QColor:
    """A grey half-way between background and text: visible on light and dark backgrounds."""
    a, b = palette.color(QPalette.Window), palette.color(QPalette.WindowText)
    return QColor((a.red() + b.red()) // 2, (a.green() + b.green()) // 2, (a.blue() + b.blue()) // 2)
