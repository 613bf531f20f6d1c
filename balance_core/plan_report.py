"""The planner's outputs: one table row per (patch size, cap), and an HTML report with the board.

The board: for each patch size a line of the class imbalance one epoch draws against the
oversampling cap (log scale), starting from the whole-frame imbalance ("raw"), each point
labelled with its effective sample size, and the target ratio drawn across — the two levers
and their costs on the user's own data.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np

from .legend import Legend, class_name
from .report import html_page
from .planning import PlanRow, Recommendation
from .schema import class_field

SIZE_COLOURS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#e3a600", "#c2185b", "#6d4c41", "#546e7a")
TARGET_COLOUR = "#2e7d32"


def plan_columns(rows: Sequence[PlanRow]) -> list[tuple[str, str]]:
    """(name, kind) of the table's columns: 'int', 'float' or 'text'; per class: frame and drawn share,
    drawable patches holding it and the loss weight still needed."""
    columns = [("patch_size", "int"), ("cap", "float"), ("patches", "int"), ("drawable", "int"),
               ("frame_imbalance", "float"), ("imbalance", "float"), ("frame_majority_per_minority", "float"),
               ("majority_per_minority", "float"), ("effective_sample_size", "float"), ("ess_fraction", "float"),
               ("max_oversampling", "float"), ("reached_target", "int"), ("recommended", "int"), ("limiting", "text")]
    for value in _class_values(rows):
        field = class_field(int(value))
        columns += [(f"frame_{field}", "float"), (f"drawn_{field}", "float"), (f"patches_{field}", "int"),
                    (f"loss_{field}", "float")]
    return columns


def _class_values(rows: Sequence[PlanRow]) -> np.ndarray:
    return np.unique(np.concatenate([r.class_values for r in rows])) if rows else np.zeros(0, np.int64)


def plan_records(rows: Sequence[PlanRow], recommendation: Recommendation) -> list[list]:
    """The table's rows, in `plan_columns` order (a class absent at a size: 0 share, 0 patches, 0 weight)."""
    out = []
    for r in rows:
        record = [r.patch_size, r.cap, r.patches, r.drawable, _finite(r.frame_imbalance), _finite(r.imbalance),
                  _finite(r.frame_majority_per_minority), _finite(r.majority_per_minority), r.effective_sample_size,
                  r.ess_fraction, r.max_oversampling, int(r.reached), int(r is recommendation.row), r.limits]
        index = {int(v): i for i, v in enumerate(r.class_values)}
        for value in _class_values(rows):
            i = index.get(int(value))
            record += ([float(r.frame_share[i]), float(r.drawn_share[i]), int(r.patches_with_class[i]),
                        float(r.loss_weights[i])] if i is not None else [0.0, 0.0, 0, 0.0])
        out.append(record)
    return out


def _finite(value: float):
    return float(value) if math.isfinite(value) else None


def _board(rows: Sequence[PlanRow], target_ratio: float) -> str:
    """Two panels on one cap axis: the imbalance drawn (log scale, from the whole-frame value) and its cost,
    the effective sample size; one colour per patch size."""
    sizes = sorted({r.patch_size for r in rows})
    caps = sorted({r.cap for r in rows})
    values = [v for r in rows for v in (r.imbalance, r.frame_imbalance) if math.isfinite(v) and v > 0]
    values.append(target_ratio)
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    high = max(high, low + 1)
    panel_w, height, left, gap, top, bottom, legend_w = 330, 300, 70, 70, 24, 44, 130
    plot_h = height - top - bottom
    width = left + panel_w + gap + panel_w + legend_w
    xs = ["raw"] + [f"{c:g}×" for c in caps]

    def x(panel: int, i: int, n: int) -> float:
        return left + panel * (panel_w + gap) + panel_w * i / max(n - 1, 1)

    def y_log(v: float) -> float:
        return top + plot_h * (high - math.log10(v)) / (high - low)

    def y_lin(v: float) -> float:
        return top + plot_h * (1 - v)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           'aria-label="Class imbalance drawn per epoch and effective sample size against the oversampling cap">']
    out.append(f'<text x="{left}" y="14" font-size="12" font-weight="bold">Imbalance drawn per epoch</text>')
    out.append(f'<text x="{left + panel_w + gap}" y="14" font-size="12" font-weight="bold">'
               'Effective sample size (the cost)</text>')
    steps = (1, 2, 5) if high - low <= 2 else (1,)  # over one or two decades, 2 and 5 get lines too
    ticks = [m * 10 ** e for e in range(low, high + 1) for m in steps if m * 10 ** e <= 10 ** high]
    for tick in ticks:
        out.append(f'<line x1="{left}" y1="{y_log(tick):.1f}" x2="{left + panel_w}" y2="{y_log(tick):.1f}" '
                   'stroke="#ddd"/><text x="{0}" y="{1:.1f}" font-size="11" text-anchor="end">{2:g} : 1</text>'
                   .format(left - 6, y_log(tick) + 4, tick))
    for share in (0, 0.25, 0.5, 0.75, 1.0):
        x0 = left + panel_w + gap
        out.append(f'<line x1="{x0}" y1="{y_lin(share):.1f}" x2="{x0 + panel_w}" y2="{y_lin(share):.1f}" '
                   f'stroke="#ddd"/><text x="{x0 - 6}" y="{y_lin(share) + 4:.1f}" font-size="11" '
                   f'text-anchor="end">{share:.0%}</text>')
    for i, label in enumerate(xs):
        out.append(f'<text x="{x(0, i, len(xs)):.1f}" y="{top + plot_h + 16}" font-size="11" '
                   f'text-anchor="middle">{label}</text>')
    for i, cap in enumerate(caps):
        out.append(f'<text x="{x(1, i, len(caps)):.1f}" y="{top + plot_h + 16}" font-size="11" '
                   f'text-anchor="middle">{cap:g}×</text>')
    for panel in (0, 1):
        out.append(f'<text x="{left + panel * (panel_w + gap) + panel_w / 2}" y="{height - 8}" font-size="11" '
                   'text-anchor="middle">oversampling cap</text>')
    ty = y_log(target_ratio)
    out.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{left + panel_w}" y2="{ty:.1f}" stroke="{TARGET_COLOUR}" '
               f'stroke-dasharray="6 4"/><text x="{left + 4}" y="{ty - 4:.1f}" font-size="11" '
               f'fill="{TARGET_COLOUR}">target {target_ratio:g} : 1</text>')
    for k, size in enumerate(sizes):
        colour = SIZE_COLOURS[k % len(SIZE_COLOURS)]
        line = sorted((r for r in rows if r.patch_size == size), key=lambda r: r.cap)
        raw = [(x(0, 0, len(xs)), y_log(line[0].frame_imbalance))] if math.isfinite(line[0].frame_imbalance) else []
        drawn = [(x(0, 1 + caps.index(r.cap), len(xs)), y_log(r.imbalance), r) for r in line if math.isfinite(r.imbalance)]
        points = raw + [(px, py) for px, py, _ in drawn]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                   + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
        if raw:
            out.append(f'<circle cx="{raw[0][0]:.1f}" cy="{raw[0][1]:.1f}" r="4" fill="#fff" stroke="{colour}" '
                       f'stroke-width="2"><title>{size} px, whole frames: {line[0].frame_imbalance:.1f} : 1</title></circle>')
        for px, py, r in drawn:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"><title>{size} px, cap {r.cap:g}×: '
                       f'{r.imbalance:.1f} : 1, effective sample size {r.ess_fraction:.0%}</title></circle>')
        cost = [(x(1, caps.index(r.cap), len(caps)), y_lin(r.ess_fraction)) for r in line]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                   + " ".join(f"{px:.1f},{py:.1f}" for px, py in cost) + '"/>')
        out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"/>' for px, py in cost]
        ly = top + 10 + 18 * k
        lx = left + 2 * panel_w + gap + 16
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 18}" y2="{ly}" stroke="{colour}" stroke-width="3"/>'
                   f'<text x="{lx + 24}" y="{ly + 4}" font-size="11">{size} px</text>')
    lx, ly = left + 2 * panel_w + gap + 16, top + 10 + 18 * len(sizes) + 6
    out.append(f'<circle cx="{lx + 9}" cy="{ly}" r="4" fill="#fff" stroke="#555" stroke-width="2"/>'
               f'<text x="{lx + 24}" y="{ly + 4}" font-size="11">whole frames</text>')
    out.append("</svg>")
    return "".join(out)


def render_plan_report(rows: Sequence[PlanRow], recommendation: Recommendation, legend: Legend,
                       target_ratio: float, settings: dict[str, str]) -> str:
    esc = html.escape
    values = _class_values(rows)
    head = "".join(f"<th>{esc(class_name(legend, v))}<br>frame → drawn</th>" for v in values)
    body = []
    for r, record in zip(rows, plan_records(rows, recommendation)):
        index = {int(v): i for i, v in enumerate(r.class_values)}
        cells = "".join(
            f"<td>{r.frame_share[index[int(v)]]:.2%} → {r.drawn_share[index[int(v)]]:.2%}</td>" if int(v) in index
            else "<td>–</td>" for v in values)
        mark = " class='chosen'" if r is recommendation.row else ""
        body.append(f"<tr{mark}><td>{r.patch_size}</td><td>{r.cap:g}×</td><td>{r.drawable:,} / {r.patches:,}</td>"
                    f"<td>{_text(r.frame_imbalance)}</td><td>{_text(r.imbalance)}</td>"
                    f"<td>{_text(r.majority_per_minority, ':1')}</td><td>{r.effective_sample_size:,.0f} "
                    f"({r.ess_fraction:.0%})</td><td>{r.max_oversampling:.2f}×</td>{cells}"
                    f"<td class='l'>{esc(r.limits)}</td></tr>")
    setting_rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(str(v))}</td></tr>" for k, v in settings.items())
    verdict = "reaches the target" if recommendation.meets_target else "closest to the target"
    body = f"""<h1>Patch size and oversampling plan</h1>
<p id="recommendation"><b>Recommended ({verdict}):</b> {esc(recommendation.text)}</p>
<h2>The two levers</h2>
<p>Per patch size, the imbalance (largest / smallest class share of the labelled pixels) one epoch of
<code>WeightedRandomSampler</code> draws with <code>class_balance</code> weights, against the oversampling cap.
"raw" is what whole frames feed the loss. Smaller patches let pure-background patches be drawn less; a larger cap
draws rare-class patches more often. The labels give the effective sample size (share of drawable patches): the
cost of drawing the same few patches again.</p>
{_board(rows, target_ratio)}
<h2>Every setting</h2>
<table id="plan"><tr><th>patch size</th><th>cap</th><th>drawable / patches</th><th>imbalance, whole frames</th>
<th>imbalance, drawn</th><th>majority pixels per rarest-class pixel</th><th>effective sample size</th>
<th>largest oversampling</th>{head}<th>what limits the balance</th></tr>
{''.join(body)}</table>
<table>{setting_rows}</table>
"""
    return html_page("Patch Balancer — patch size and oversampling plan", body, 'td, th { font-size: 13px; }\ntd.l { text-align: left; }\ntr.chosen td { background: #e8f5e9; font-weight: bold; }\n')


def _text(value: float, unit: str = " : 1") -> str:
    return "–" if not math.isfinite(value) else f"{value:,.1f}{unit}"
