"""The main job on a built-in demo: generate a scene, run the algorithm through qgis_process,
render the styled patch layer over the image with QGIS's renderer, print a summary."""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from balance_core.class_balance import class_balance, labelled_pixels  # noqa: E402
from demo_scene import CLASS_COLOURS, CLASS_NAMES, write_scene  # noqa: E402
from plugin_package import load_plugin_package  # noqa: E402


def run_algorithm(image: Path, mask: Path, gpkg: Path, table: Path, report: Path, loss: Path, patch_size: int) -> dict:
    class_map = gpkg.parent / "demo_classes.csv"
    class_map.write_text("value,name,colour\n" + "".join(f"{v},{n},{CLASS_COLOURS[v]}\n" for v, n in CLASS_NAMES.items()))
    command = [str(REPO / "scripts" / "qgis_process"), "--json", "run", "patchbalancer:buildbalanceddataset", "--",
               f"IMAGE={image}", f"MASK={mask}", f"PATCH_SIZE={patch_size}", f"CLASS_MAP={class_map}",
               "MAX_OVERSAMPLING=5", f"OUTPUT={gpkg}", f"OUTPUT_CSV={table}", f"REPORT={report}", f"LOSS_WEIGHTS={loss}"]
    print("$ " + " ".join(command[:4]) + " -- " + " ".join(command[5:]))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"qgis_process failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout)["results"]


def run_plan(image: Path, mask: Path, out: Path) -> dict:
    """The planner on the demo scene: every patch size × cap, its report and table."""
    command = [str(REPO / "scripts" / "qgis_process"), "--json", "run", "patchbalancer:planbalance", "--",
               f"IMAGE={image}", f"MASK={mask}", f"CLASS_MAP={out / 'demo_classes.csv'}", "PATCH_SIZES=64,128,256,512",
               "CAPS=1,2,3,5,8", "TARGET_RATIO=250", f"OUTPUT={out / 'demo_plan.gpkg'}",
               f"OUTPUT_CSV={out / 'demo_plan.csv'}", f"REPORT={out / 'demo_plan.html'}"]
    print("$ " + " ".join(command[:4]) + " -- " + " ".join(command[5:]))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"qgis_process failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout)["results"]


def render_board(report: Path, png: Path) -> None:
    """The plan report's board (its SVG) as a PNG, drawn by Qt's SVG renderer."""
    import re

    from qgis.PyQt.QtCore import QByteArray
    from qgis.PyQt.QtGui import QColor, QImage, QPainter
    from qgis.PyQt.QtSvg import QSvgRenderer

    svg = re.search(r"<svg.*?</svg>", report.read_text(encoding="utf-8"), re.S).group(0)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    size = renderer.defaultSize()
    image = QImage(size.width() * 2, size.height() * 2, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png), "PNG"):
        sys.exit(f"cannot write {png}")
    print(f"Plan board: {png}")


def render_outputs(image: Path, gpkg: Path, png: Path, dock_png: Path, plan_report: Path, plan_png: Path) -> None:
    """Render the map with QGIS's own renderer (the patch layer's style is the default stored in the
    GeoPackage), and the plugin's class balance dock showing the patch layer."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import (QgsApplication, QgsMapRendererParallelJob, QgsMapSettings, QgsRasterLayer,
                           QgsVectorLayer)
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    app = QgsApplication([], True)
    app.initQgis()
    raster = QgsRasterLayer(str(image), "image")
    patches = QgsVectorLayer(str(gpkg), "demo_patches", "ogr")
    if not (raster.isValid() and patches.isValid()):
        sys.exit("cannot open the demo outputs for rendering")
    settings = QgsMapSettings()
    settings.setLayers([patches, raster])
    settings.setDestinationCrs(raster.crs())
    settings.setExtent(raster.extent())
    settings.setOutputSize(QSize(1000, 1000))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(png), "PNG")
    print(f"Map: {png} (renderer: {patches.renderer().type()} on sampler_weight)")
    load_plugin_package()
    from patch_balancer.ui.class_balance_dock import ClassBalanceDock

    dock = ClassBalanceDock()
    dock.resize(480, 660)
    dock.show()
    dock.set_layer(patches)
    dock.refresh()
    app.processEvents()  # let the layout settle before the grab
    if not dock.grab().save(str(dock_png), "PNG"):
        sys.exit(f"cannot write {dock_png}")
    print(f"Class balance dock: {dock_png}")
    render_board(plan_report, plan_png)
    dock.release()
    del dock, job, settings, patches, raster  # layers must go before the application does
    app.exitQgis()


def summarise(table: Path, results: dict, loss: Path) -> None:
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    class_cols = [c for c in rows[0] if c.startswith("c_")]
    values = [int(c[2:]) for c in class_cols]
    labelled = labelled_pixels(np.array([float(r["patch_size"]) for r in rows]),
                               np.array([float(r["nodata_ratio"]) for r in rows]), len(rows))
    fractions = np.array([[float(r[c]) for c in class_cols] for r in rows])
    weights = np.array([float(r["sampler_weight"]) for r in rows])
    balance = class_balance(np.array(values), fractions * labelled[:, None], weights)
    print(f"\nPatches: {results['PATCH_COUNT']}, excluded: {results['EXCLUDED_COUNT']}, "
          f"composition clusters: {results['CLUSTER_COUNT']}")
    by_class = json.loads(loss.read_text())["by_class"]
    print(f"{'class':<14}{'raw share':>11}{'target':>9}{'drawn':>9}{'patches':>9}{'loss weight raw → after':>25}")
    for v, raw, weighted, n in zip(values, balance.raw_share, balance.weighted_share, balance.patches_with_class):
        entry = by_class[str(v)]
        target = f"{entry['target_share']:.2%}" if "target_share" in entry else "–"
        print(f"{v} {CLASS_NAMES.get(v, ''):<12}{raw:>10.2%}{target:>9}{weighted:>9.2%}{n:>9}"
              f"{entry['weight_without_sampling']:>14.1f} → {entry['weight']:.1f}")
    print(f"Imbalance (largest / smallest class share): {balance.raw_imbalance:.0f} : 1 raw, "
          f"{balance.weighted_imbalance:.0f} : 1 drawn per epoch")
    print(f"Effective sample size: {balance.effective_sample_size:.0f} of {len(rows)} patches; "
          f"largest oversampling: {balance.max_oversampling:.2f}× the mean weight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo_output", help="output folder")
    parser.add_argument("--size", type=int, default=2560, help="scene side in pixels")
    parser.add_argument("--patch-size", type=int, default=128)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    image, mask = out / "demo_image.tif", out / "demo_mask.tif"
    gpkg, table, png = out / "demo_patches.gpkg", out / "demo_patches.csv", out / "demo_map.png"
    report, dock_png, loss = out / "demo_report.html", out / "demo_dock.png", out / "demo_loss_weights.json"
    print(f"Generating a {args.size}×{args.size} px demo scene in {out}")
    write_scene(str(image), str(mask), args.size)
    results = run_algorithm(image, mask, gpkg, table, report, loss, args.patch_size)
    plan = run_plan(image, mask, out)
    render_outputs(image, gpkg, png, dock_png, out / "demo_plan.html", out / "demo_plan.png")
    summarise(table, results, loss)
    print(f"\nPlan (patch size × cap): {plan['RECOMMENDATION']}")
    print(f"\nOutputs: {gpkg}, {table}, {png}, {report}, {loss}, {dock_png}")


if __name__ == "__main__":
    main()
