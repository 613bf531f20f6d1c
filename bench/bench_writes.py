"""Writing and reading the outputs of ~155,000 patches: the old path beside the new, in one process.

- patch layer, new GeoPackage: QGIS's feature sink one feature at a time (every footprint made a
  QgsGeometry first) vs `gpkg_bulk` (GeoPackage blobs built with numpy, one executemany, one transaction);
- patch layer into an existing GeoPackage holding other layers: OGR feature-by-feature copy vs
  INSERT … SELECT across an attached database (`gpkg_layers.replace_layer`);
- sampler CSV: `csv.writer` row by row vs the column-at-a-time writer (same bytes, checked here);
- reading the patch layer back (a step's input): QGIS's feature iterator vs GDAL's Arrow stream (same table,
  checked here);
- the style's class breaks (`styling.weight_breaks`), `schema.class_dist_json` and `table_from_records` (the
  table of a layer read back), each beside the code it replaced (kept in the tests; same results, checked here).

Run: .venv/bin/python bench/bench_writes.py [--patches 155000]
"""
from __future__ import annotations

import argparse
import csv
import filecmp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingFeedback,
)

from scripts.plugin_package import load_plugin_package  # noqa: E402

CLASSES = 7


def synthetic_table(n: int, seed: int = 0):
    """A table with every column the build algorithm writes: 7 classes, windows on a 256 px grid."""
    from patch_balancer.balance_core.table import PatchTable

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    ids = np.arange(n, dtype=np.int64)
    counts = np.floor(rng.dirichlet(np.full(CLASSES, 0.3), size=n) * 65536)  # pixels of a 256 px patch per class
    counts[:, 0] += 65536 - counts.sum(axis=1)
    nodata = rng.random(n) < 0.1  # a tenth of the patches partly unlabelled
    counts[nodata] = np.floor(counts[nodata] * rng.random((int(nodata.sum()), 1)))
    columns = {
        "patch_id": ids,
        "image_path": np.array([f"/data/tiles/image_{i % 40:02d}.tif" for i in range(n)], dtype=object),
        "mask_path": np.array([f"/data/tiles/mask_{i % 40:02d}.tif" for i in range(n)], dtype=object),
        "row_off": (ids // side) * 256, "col_off": (ids % side) * 256, "patch_size": np.full(n, 256, dtype=np.int64),
        "class_entropy": rng.random(n) * 2, "nodata_ratio": 1.0 - counts.sum(axis=1) / 65536,
        "excl_border_nodata": rng.random(n) < 0.02, "excl_black_border": rng.random(n) < 0.02,
        "excl_image_nodata": rng.random(n) < 0.01, "excl_low_entropy": rng.random(n) < 0.05,
        "excl_nodata_ratio": rng.random(n) < 0.02, "excluded": rng.random(n) < 0.08,
        "freq_cluster_id": rng.integers(0, 12, n), "freq_cluster_size": rng.integers(1, 20000, n),
        "freq_cluster_weight": rng.random(n) / 1000, "uniqueness_score": np.where(rng.random(n) < 0.08, np.nan, rng.random(n)),
        "sampler_weight": rng.gamma(2.0, 0.5, n),
    }
    table = PatchTable(columns).with_classes(np.arange(CLASSES, dtype=np.int64), counts)
    rings = np.empty((n, 5, 2))
    x0, y0 = 500000.0 + columns["col_off"] * 0.5, 4500000.0 - columns["row_off"] * 0.5
    for k, (dx, dy) in enumerate([(0, 0), (128, 0), (128, -128), (0, -128), (0, 0)]):
        rings[:, k, 0], rings[:, k, 1] = x0 + dx, y0 + dy
    return table, rings


def old_csv(table, path):
    """The row-by-row writer as it was (csv.writer, json.dumps per row)."""
    from patch_balancer.balance_core.schema import FLOAT, output_columns
    from patch_balancer.balance_core.writers import COMPATIBLE_FLAGS

    from tests.core.test_fast_records import old_class_dist_json as class_dist_json  # json.dumps per row

    columns = output_columns(table)
    flags = {}
    for name, sources in COMPATIBLE_FLAGS.items():
        present = [table[s] for s in sources if s in table]
        if present:
            flags[name] = ["True" if f else "False"
                           for f in np.logical_or.reduce([np.asarray(p, dtype=bool) for p in present]).tolist()]
    extra = {"class_dist_json": class_dist_json(table), **flags}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.name for c in columns] + list(extra))
        formatted = [
            ["" if v is None else repr(v) for v in c.as_list()] if c.kind == FLOAT else [str(v) for v in c.as_list()]
            for c in columns
        ] + list(extra.values())
        writer.writerows(zip(*formatted))


def old_replace_layer(staged: str, name: str, target: str) -> None:
    """The feature-by-feature copy into an existing GeoPackage, as it was (styles aside)."""
    from osgeo import ogr

    source_ds = ogr.Open(staged)
    source = source_ds.GetLayerByName(name)
    target_ds = ogr.Open(target, update=1)
    target_ds.StartTransaction()
    for i in range(target_ds.GetLayerCount()):
        if target_ds.GetLayer(i).GetName() == name:
            target_ds.DeleteLayer(i)
            break
    layer = target_ds.CreateLayer(name, srs=source.GetSpatialRef(), geom_type=source.GetGeomType(),
                                  options=["GEOMETRY_NAME=geom", "FID=fid"])
    definition = source.GetLayerDefn()
    for i in range(definition.GetFieldCount()):
        layer.CreateField(definition.GetFieldDefn(i))
    target_definition = layer.GetLayerDefn()
    for feature in source:
        copy = ogr.Feature(target_definition)
        copy.SetFrom(feature)
        copy.SetFID(feature.GetFID())
        layer.CreateFeature(copy)
    target_ds.CommitTransaction()
    target_ds = None


def other_layers_gpkg(path: str) -> str:
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    for name in ("roads", "patches"):
        layer = dataset.CreateLayer(name, srs, ogr.wkbPolygon)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt("POLYGON((0 0,1 0,1 1,0 0))"))
        layer.CreateFeature(feature)
    dataset = None
    return path


def timed(label: str, action, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    print(f"  {label:<58} {best:7.2f} s", flush=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=155_000)
    args = parser.parse_args()

    app = QgsApplication([], False)
    app.initQgis()
    load_plugin_package()
    from patch_balancer.balance_core import staged_outputs
    from patch_balancer.balance_core.writers import write_csv
    from patch_balancer.processing_provider import patch_layer
    from patch_balancer.processing_provider.algorithms.build_balanced_dataset import BuildBalancedDatasetAlgorithm
    from patch_balancer.processing_provider.algorithms.compute_sampler_weights import ComputeSamplerWeightsAlgorithm

    table, rings = synthetic_table(args.patches)
    crs = QgsCoordinateReferenceSystem("EPSG:32631")
    print(f"{len(table):,} patches, {CLASSES} classes, {len(patch_layer.output_columns(table))} columns")
    folder = Path(tempfile.mkdtemp(prefix="bench_writes_"))
    build = BuildBalancedDatasetAlgorithm()
    build.initAlgorithm()
    figures = {}

    def publish(target, bulk):
        patch_layer.BULK_WRITES = bulk
        context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
        if bulk:
            geometries = patch_layer.polygon_wkb(rings)
        else:  # as before: every footprint a QgsGeometry up front
            records = patch_layer.gpkg_geometry.polygon_records(rings)
            raw, size = records.tobytes(), records.dtype.itemsize
            geometries = []
            for i in range(len(records)):
                geometry = QgsGeometry()
                geometry.fromWkb(raw[i * size:(i + 1) * size])
                geometries.append(geometry)
        with staged_outputs.staging(staged_outputs.StagedOutputs()) as outputs:
            patch_layer.publish_patch_layer(build, {"OUTPUT": target}, context, feedback, table, geometries, crs, {},
                                            "Balanced patches")
            outputs.commit()

    print("patch layer, a new GeoPackage (footprints → committed, styled layer):")
    figures["layer old"] = timed("QGIS feature sink (before)", lambda: publish(str(folder / "sink.gpkg"), False))
    figures["layer new"] = timed("bulk: numpy blobs + one executemany (after)", lambda: publish(str(folder / "bulk.gpkg"), True))

    print("patch layer into an existing GeoPackage with other layers (the copy at commit):")
    staged = str(folder / "bulk.gpkg")
    old_target, new_target = other_layers_gpkg(str(folder / "old_target.gpkg")), other_layers_gpkg(str(folder / "new_target.gpkg"))
    figures["replace old"] = timed("OGR feature-by-feature copy (before)", lambda: old_replace_layer(staged, "bulk", old_target))
    figures["replace new"] = timed("INSERT … SELECT from the attached file (after)",
                                   lambda: patch_layer.replace_layer(staged, "bulk", new_target))

    print("sampler CSV:")
    figures["csv old"] = timed("csv.writer row by row (before)", lambda: old_csv(table, folder / "old.csv"))
    figures["csv new"] = timed("column at a time (after)", lambda: write_csv(table, str(folder / "new.csv")))
    assert filecmp.cmp(folder / "old.csv", folder / "new.csv", shallow=False), "the CSVs differ"
    print("  (the two CSVs are byte-identical)")

    print("reading the patch layer back (a step's input):")
    weights = ComputeSamplerWeightsAlgorithm()
    weights.initAlgorithm()
    reads = {}

    def read(arrow):
        patch_layer.ARROW_READS = arrow
        context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
        source = patch_layer.read_patch_source(weights, {"INPUT": str(folder / "bulk.gpkg")}, "INPUT", context, feedback)
        reads[arrow] = source
        context.temporaryLayerStore().removeAllMapLayers()

    figures["read old"] = timed("QGIS feature iterator (before)", lambda: read(False))
    figures["read new"] = timed("GDAL Arrow stream (after)", lambda: read(True))
    old, new = reads[False].table, reads[True].table
    assert old.columns.keys() == new.columns.keys() and all(
        np.array_equal(old[k], new[k], equal_nan=old[k].dtype.kind == "f") for k in old.columns)
    assert np.array_equal(old.stored_fractions, new.stored_fractions)
    print("  (the two tables are identical)")

    print("style and text columns (the old code is kept in the tests):")
    from patch_balancer.balance_core import patch_records, schema
    from patch_balancer.processing_provider import styling

    from tests.core import test_fast_records as old_records
    from tests.qgis.test_weight_breaks import reference_weight_breaks

    weights, breaks = table["sampler_weight"], {}
    figures["breaks old"] = timed("weight_breaks: min + lambda per break dropped (before)",
                                  lambda: breaks.__setitem__(False, reference_weight_breaks(weights)))
    figures["breaks new"] = timed("weight_breaks: heap of merged class sizes (after)",
                                  lambda: breaks.__setitem__(True, styling.weight_breaks(weights)))
    assert breaks[False] == breaks[True], "the breaks differ"
    print(f"  ({len(styling.weight_levels(weights)):,} weight levels; the same {len(breaks[True])} classes)")
    texts = {}
    timed("class_dist_json: json.dumps per row (before)",
          lambda: texts.__setitem__(False, old_records.old_class_dist_json(table)))
    timed("class_dist_json: the CSV writer's columns (after)",
          lambda: texts.__setitem__(True, schema.class_dist_json(table)))
    assert texts[False] == texts[True], "the texts differ"
    records = {c.name: c.as_list() for c in schema.output_columns(table)}
    fast = {name: getattr(patch_records, name) for name in ("_numbers", "_flags", "_texts", "_nones")}
    rebuilt = {}

    def from_records(new):
        for name, function in fast.items():
            setattr(patch_records, name, function if new else getattr(old_records, "old" + name))
        try:
            rebuilt[new] = patch_records.table_from_records(records, need_windows=True, need_composition=True)
        finally:
            for name, function in fast.items():
                setattr(patch_records, name, function)

    figures["records old"] = timed("table_from_records: a Python step per value (before)", lambda: from_records(False))
    figures["records new"] = timed("table_from_records: whole columns in C (after)", lambda: from_records(True))
    old, new = rebuilt[False], rebuilt[True]
    assert old.columns.keys() == new.columns.keys() and all(
        old[k].tobytes() == new[k].tobytes() if old[k].dtype != object else old[k].tolist() == new[k].tolist()
        for k in old.columns) and old.stored_fractions.tobytes() == new.stored_fractions.tobytes()
    print("  (the two tables are identical, bit for bit)")

    print("total (layer + CSV + read back):")
    before = figures["layer old"] + figures["csv old"] + figures["read old"]
    after = figures["layer new"] + figures["csv new"] + figures["read new"]
    print(f"  before {before:.2f} s → after {after:.2f} s ({before / after:.1f}×)")
    app.exitQgis()


if __name__ == "__main__":
    main()
