"""The HTML report: per-class balance raw vs. weighted, weight histogram, ESS, clusters.

Self-contained (inline SVG, inline CSS, no network resource), so it opens anywhere,
including QGIS's Processing results viewer.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from .calibration import loss_weights
from .class_balance import ClassBalance, class_balance
from .legend import Legend, class_colour, class_name
from .share_axis import share_axis, tick_label
from .table import PatchTable

BAR_RAW, BAR_WEIGHTED = "#9e9e9e", "#3b528b"
PAGE_CSS = """body { font-family: sans-serif; margin: 1.5em; color: #222; background: #fff; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.sw { display: inline-block; width: .9em; height: .9em; margin-right: .4em; border: 1px solid #666; }
"""


def html_page(title: str, body: str, extra_css: str = "") -> str:
    """A self-contained page (inline CSS, no network resource) in the reports' common style; `title` is escaped."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>\n'
            f"<style>\n{PAGE_CSS}{extra_css}</style></head><body>\n{body}</body></html>\n")


@dataclass(frozen=True)
class ClusterRow:
    cluster_id: int
    size: int
    weight: float  # 1 / size, the composition score
    mean_fractions: np.ndarray  # per class, over the cluster's patches


@dataclass(frozen=True)
class ReportFigures:
    n_patches: int
    n_included: int
    balance: ClassBalance
    histogram: tuple[np.ndarray, np.ndarray]  # (counts, bin edges) of the included patches' weights
    clusters: list[ClusterRow]


def report_figures(table: PatchTable, bins: int = 20) -> ReportFigures:
    weights = np.asarray(table["sampler_weight"], dtype=np.float64)
    included = ~np.asarray(table["excluded"], dtype=bool)
    counts = table.class_counts if table.class_counts is not None else np.zeros((len(table), 0))
    balance = class_balance(table.class_values, counts, weights, ~included)
    histogram = np.histogram(weights[included], bins=bins) if included.any() else (np.zeros(0), np.zeros(1))
    clusters = []
    if "freq_cluster_id" in table:
        fractions = table.fractions()
        ids = table["freq_cluster_id"]
        for cid in sorted(set(ids[included].tolist())):
            rows = included & (ids == cid)
            clusters.append(ClusterRow(int(cid), int(rows.sum()), float(table["freq_cluster_weight"][rows][0]),
                                       fractions[rows].mean(axis=0)))
        clusters.sort(key=lambda c: c.size)
    return ReportFigures(len(table), int(included.sum()), balance, histogram, clusters)


def _share_chart(figures: ReportFigures, legend: Legend) -> str:
    """Grouped horizontal bars, raw (grey) vs weighted (class colour), one group per class.

    When the shares span more than LOG_SCALE_RATIO the axis is logarithmic (as in the dock): on a linear
    axis a 0.1 % class next to 99 % background is a sliver, and the change the weights make to it is lost.
    """
    b = figures.balance
    row_h, label_w, bar_w, axis_h = 34, 150, 360, 34
    top_pad = 10
    height = top_pad + row_h * len(b.class_values) + axis_h
    axis = share_axis([float(v) for v in (*b.raw_share, *b.weighted_share)])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 80}" height="{height}" '
             'role="img" aria-label="Class shares, raw vs weighted">']
    bottom = top_pad + row_h * len(b.class_values)
    for tick in axis.ticks():
        x = label_w + bar_w * axis.position(tick) if tick > 0 else label_w
        dash = ' stroke-dasharray="2 2"' if tick > 0 else ""
        parts.append(f'<line x1="{x:.1f}" y1="{top_pad - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#bbb"{dash}/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 12}" text-anchor="middle" font-size="10">'
                     f'{html.escape(tick_label(tick))}</text>')
    for i, value in enumerate(b.class_values):
        y = top_pad + i * row_h
        name = html.escape(class_name(legend, value))
        parts.append(f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" font-size="12">{name}</text>')
        for j, (share, colour) in enumerate(((b.raw_share[i], BAR_RAW), (b.weighted_share[i], class_colour(legend, value, i)))):
            w = max(bar_w * axis.position(float(share)), 1.0 if share > 0 else 0.0)
            parts.append(f'<rect x="{label_w}" y="{y + j * 13}" width="{w:.1f}" height="12" fill="{colour}"/>')
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + j * 13 + 10}" font-size="10">{share:.2%}</text>')
    scale = "log scale" if axis.log else "linear scale"
    parts.append(f'<text x="{label_w}" y="{height - 4}" font-size="10">grey: raw share · coloured: under the sampler '
                 f'weights · {scale}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _histogram_chart(figures: ReportFigures) -> str:
    counts, edges = figures.histogram
    if not len(counts):
        return "<p>No included patch.</p>"
    width, height, pad = 520, 180, 30
    bar = (width - 2 * pad) / len(counts)
    top = max(int(counts.max()), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img" '
             'aria-label="Histogram of sampler weights">']
    for i, c in enumerate(counts):
        h = (height - pad) * c / top
        parts.append(f'<rect x="{pad + i * bar:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                     f'fill="{BAR_WEIGHTED}"><title>{edges[i]:.4g}–{edges[i + 1]:.4g}: {int(c)}</title></rect>')
    parts.append(f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" stroke="#444"/>')
    parts.append(f'<text x="{pad}" y="{height + 16}" font-size="11">{edges[0]:.4g}</text>')
    parts.append(f'<text x="{width - pad}" y="{height + 16}" font-size="11" text-anchor="end">{edges[-1]:.4g}</text>')
    parts.append(f'<text x="{width / 2}" y="{height + 32}" font-size="11" text-anchor="middle">sampler_weight '
                 f'(included patches; highest bar: {top})</text></svg>')
    return "".join(parts)


def render_report(table: PatchTable, legend: Legend, title: str, settings: dict[str, str]) -> str:
    figures = report_figures(table)
    b = figures.balance
    esc = html.escape
    target = getattr(table.calibration, "target_share", None)
    after, before = loss_weights(b.weighted_share), loss_weights(b.raw_share)
    rows = "".join(
        f"<tr><td><span class='sw' style='background:{class_colour(legend, v, i)}'></span>{esc(class_name(legend, v))}</td>"
        f"<td>{int(v)}</td><td>{b.raw_share[i]:.2%}</td>"
        + (f"<td>{target[i]:.2%}</td>" if target is not None else "")
        + f"<td>{b.weighted_share[i]:.2%}</td><td>{int(b.patches_with_class[i])}</td>"
        f"<td>{before[i]:.3g}</td><td>{after[i]:.3g}</td></tr>"
        for i, v in enumerate(b.class_values)
    )
    target_head = "<th>target share</th>" if target is not None else ""
    limits = ""
    if table.calibration is not None and not table.calibration.reached:
        names = {int(v): class_name(legend, v) for v in b.class_values}
        limits = f"<p id='limits'>{esc(table.calibration.message(names))}</p>"
    ratio = _ratio_text(b.raw_imbalance), _ratio_text(b.weighted_imbalance)
    cluster_rows = "".join(
        f"<tr><td>{c.cluster_id}</td><td>{c.size}</td><td>{c.weight:.4g}</td><td>"
        + ", ".join(f"{esc(class_name(legend, v))} {f:.0%}" for v, f in zip(b.class_values, c.mean_fractions) if f >= 0.005)
        + "</td></tr>"
        for c in figures.clusters
    )
    clusters = (f"<h2>Composition clusters</h2><table><tr><th>cluster</th><th>patches</th><th>score (1/size)</th>"
                f"<th>mean composition</th></tr>{cluster_rows}</table>") if figures.clusters else ""
    setting_rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(str(v))}</td></tr>" for k, v in settings.items())
    body = f"""<h1>{esc(title)}</h1>
<table>
<tr><td>Patches</td><td>{figures.n_patches}</td></tr>
<tr><td>Included (drawable)</td><td>{figures.n_included}</td></tr>
<tr><td>Effective sample size (Σw)²/Σw²</td><td id="ess">{b.effective_sample_size:.1f}</td></tr>
<tr><td>Largest oversampling (max weight / mean weight)</td><td id="max-oversampling">{b.max_oversampling:.3f}×</td></tr>
<tr><td>Imbalance, largest / smallest class share: raw</td><td>{ratio[0]}</td></tr>
<tr><td>Imbalance under the sampler weights</td><td>{ratio[1]}</td></tr>
{setting_rows}
</table>
<h2>Classes</h2>
<p>Share of labelled pixels over all patches (raw), and the share one epoch of
<code>WeightedRandomSampler</code> with replacement feeds the model in expectation (weighted).</p>
<p>Loss weights: the inverse-frequency class weight the loss would need without sampling (raw) and the one it
still needs under the sampler weights (largest drawn share / the class's drawn share; also written as
<code>LOSS_WEIGHTS</code> JSON for <code>torch.nn.CrossEntropyLoss(weight=…)</code>).</p>
<table id="classes"><tr><th>class</th><th>value</th><th>raw share</th>{target_head}<th>weighted share</th>
<th>patches with the class</th><th>loss weight, raw</th><th>loss weight, after sampling</th></tr>
{rows}</table>
{limits}
{_share_chart(figures, legend)}
<h2>Sampler weights</h2>
{_histogram_chart(figures)}
{clusters}
"""
    return html_page(title, body)


def _ratio_text(ratio: float) -> str:
    return "–" if ratio != ratio else f"{ratio:.1f} : 1"
