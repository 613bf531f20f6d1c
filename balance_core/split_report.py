"""The split report (HTML): per split and class, pixel share, patches and instances, with warnings.

Self-contained like the balance report (inline SVG and CSS), so it opens in QGIS's results viewer.
"""
from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np

from .legend import Legend, class_colour, class_name
from .report import html_page
from .share_axis import share_axis, tick_label
from .splits import SplitSummary

SPLIT_COLOURS = ("#3b528b", "#21918c", "#e5a000", "#8c564b", "#7f7f7f", "#d62728")


def _pct(x: float) -> str:
    return f"{x:.2%}" if x == x else "–"


def _ratio_range(summary: SplitSummary, s: int) -> str:
    ratios = summary.share_ratio[s]
    present = summary.whole_shares > 0
    ratios = ratios[present]
    return f"{ratios.min():.2f}–{ratios.max():.2f}×" if len(ratios) else "–"


def _share_chart(summary: SplitSummary, legend: Legend) -> str:
    """Per class, one bar per split (and the whole, grey): the class's share of that split's labelled pixels."""
    shares, whole = summary.shares, summary.whole_shares
    axis = share_axis([float(v) for v in (*shares.ravel(), *whole)])
    S, C = shares.shape
    bar_h, label_w, bar_w = 10, 150, 360
    row_h = (S + 1) * (bar_h + 1) + 8
    top = 10
    bottom = top + row_h * C
    height = bottom + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 80}" height="{height}" role="img" '
             'aria-label="Class shares per split">']
    for tick in axis.ticks():
        x = label_w + bar_w * axis.position(tick) if tick > 0 else label_w
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#bbb" stroke-dasharray="2 2"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 12}" text-anchor="middle" font-size="10">'
                     f'{html.escape(tick_label(tick))}</text>')
    for c, value in enumerate(summary.class_values):
        y = top + c * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + row_h / 2}" text-anchor="end" font-size="12">'
                     f'{html.escape(class_name(legend, value))}</text>')
        bars = [(float(whole[c]), "#9e9e9e", "all splits")] + [
            (float(shares[s, c]), SPLIT_COLOURS[s % len(SPLIT_COLOURS)], summary.names[s]) for s in range(S)]
        for k, (share, colour, label) in enumerate(bars):
            w = max(bar_w * axis.position(share), 1.0 if share > 0 else 0.0)
            yy = y + k * (bar_h + 1)
            parts.append(f'<rect x="{label_w}" y="{yy}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                         f'<title>{html.escape(label)}: {share:.3%}</title></rect>')
    legend_items = [("all splits", "#9e9e9e")] + [(n, SPLIT_COLOURS[s % len(SPLIT_COLOURS)])
                                                    for s, n in enumerate(summary.names)]
    x = label_w
    for label, colour in legend_items:
        parts.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 5}" font-size="10">{html.escape(label)}</text>')
        x += 20 + 7 * len(label)
    scale = "log scale" if axis.log else "linear scale"
    parts.append(f'<text x="{label_w}" y="{bottom + 26}" font-size="10">share of each split\'s labelled pixels · '
                 f'{scale}</text></svg>')
    return "".join(parts)


def render_split_report(summary: SplitSummary, legend: Legend, settings: Mapping[str, str],
                        stratification: Mapping[str, float] | None = None, title: str = "Patch Balancer — split report",
                        names: Mapping[int, str] | None = None) -> str:
    """The report; `stratification` holds the search's score and a random assignment's (lower is better)."""
    esc = html.escape
    S = len(summary.names)
    divergence = summary.divergence
    split_rows = "".join(
        f"<tr><td><span class='sw' style='background:{SPLIT_COLOURS[s % len(SPLIT_COLOURS)]}'></span>"
        f"{esc(summary.names[s])}</td><td>{summary.requested[s]:.1%}</td><td>{int(summary.patches[s])}</td>"
        f"<td>{summary.achieved[s]:.1%}</td><td>{summary.pixel_fraction[s]:.1%}</td><td>{int(summary.rows[s])}</td>"
        f"<td>{int(summary.buffer_excluded[s])}</td>"
        f"<td>{'∞ (a class is missing)' if not np.isfinite(divergence[s]) else f'{divergence[s]:.4f}'}</td>"
        f"<td>{_ratio_range(summary, s)}</td></tr>"
        for s in range(S))
    head = "".join(f"<th colspan='3'>{esc(n)}</th>" for n in summary.names)
    sub_head = "<th>pixel share</th><th>patches</th><th>instances</th>" * S
    few = set(summary.few_instances())
    class_rows = []
    for c, value in enumerate(summary.class_values):
        cells = []
        for s in range(S):
            share, ratio = summary.shares[s, c], summary.share_ratio[s, c]
            warn = (s, c) in few or (summary.pixels[s, c] == 0 and summary.whole_shares[c] > 0)
            instances = "–" if summary.instances is None else str(int(summary.instances[s, c]))
            cls = " class='warn'" if warn else ""
            cells.append(f"<td{cls}>{share:.3%} <small>({ratio:.2f}×)</small></td>"
                         f"<td{cls}>{int(summary.patches_with_class[s, c])}</td><td{cls}>{instances}</td>"
                         if ratio == ratio else f"<td>–</td><td>0</td><td>{instances}</td>")
        class_rows.append(
            f"<tr><td><span class='sw' style='background:{class_colour(legend, value, c)}'></span>"
            f"{esc(class_name(legend, value))}</td><td>{int(value)}</td><td>{summary.whole_shares[c]:.3%}</td>"
            + "".join(cells) + "</tr>")
    warnings = summary.warnings(names)
    warning_list = ("<ul id='warnings'>" + "".join(f"<li class='warning'>{esc(w)}</li>" for w in warnings) + "</ul>"
                    if warnings else "<p id='warnings'>No warning: every class is in every split"
                    + (f" with at least {summary.min_instances} instances" if summary.instances is not None else "")
                    + ", and every split is within 5 points of its requested fraction.</p>")
    strat = ""
    if stratification:
        ours, random = stratification.get("objective", float("nan")), stratification.get("random", float("nan"))
        better = f" ({random / ours:,.0f}× lower)" if ours > 0 and random == random else ""
        strat = (f"<p id='stratification'>Stratification score (0 = every class split exactly in the requested "
                 f"fractions, and the patch fractions met): <b>{ours:.3g}</b>, against {random:.3g} for a random "
                 f"assignment of the same blocks with the same seed{better}. Largest gap between the share of a "
                 f"class's pixels in a split and that split's requested fraction: "
                 f"<b>{summary.max_allocation_error * 100:.1f} points</b>; largest gap between a split's share of "
                 f"the drawable patches and its requested fraction: <b>{summary.max_fraction_error * 100:.1f} "
                 f"points</b>.</p>")
    setting_rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(str(v))}</td></tr>" for k, v in settings.items())
    instances_note = (
        "<p>Instances: connected regions (8-connected) of the class inside the union of the split's drawable "
        "patches, per raster, each counted once however many (overlapping) patches hold it; a region cut by the "
        "edge of a split's area counts once in each split that holds a piece.</p>"
        if summary.instances is not None else "<p>Instances were not counted (COUNT_INSTANCES off).</p>")
    body = f"""<h1>{esc(title)}</h1>
<table>{setting_rows}</table>
<h2>Splits</h2>
<p>Patches counted are the drawable ones (not excluded). The divergence is KL(whole ‖ split) of the class shares of
the labelled pixels (0 = the same shares); the ratio range is the smallest and largest class share in the split
divided by the class's share in all splits together.</p>
<table id="splits"><tr><th>split</th><th>requested</th><th>drawable patches</th><th>share of patches</th>
<th>share of labelled pixels</th><th>rows in the layer</th><th>excluded by the buffer</th><th>divergence</th>
<th>class share ratio</th></tr>{split_rows}</table>
{strat}
<h2>Warnings</h2>
{warning_list}
<h2>Classes per split</h2>
<p>Pixel share: the class's share of the split's labelled pixels (in brackets: against its share in all splits).
Patches: drawable patches holding the class. Cells in red: the class is absent, or has fewer than
{summary.min_instances} instances.</p>
{instances_note}
<table id="classes"><tr><th rowspan="2">class</th><th rowspan="2">value</th><th rowspan="2">all splits</th>{head}</tr>
<tr>{sub_head}</tr>
{''.join(class_rows)}</table>
{_share_chart(summary, legend)}
"""
    return html_page(title, body, 'td.warn { background: #fde2e1; }\nli.warning { color: #a11; }\n')
