"""Times one Build balanced dataset run inside QGIS, as an analyst's second run of a session: QGIS and Processing
are started and a first run on one raster pair has loaded the algorithm's modules (not counted).

Usage: inside_qgis.py WARMUP_IMAGE WARMUP_MASK KEY=VALUE ...  → prints the timed run's seconds. Used by
bench_scale.py.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, "/usr/share/qgis/python/plugins")

from qgis.core import QgsApplication, QgsProcessingFeedback  # noqa: E402

from scripts.plugin_package import load_plugin_package  # noqa: E402


def main() -> None:
    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    load_plugin_package()
    from patch_balancer.processing_provider.provider import PatchBalancerProvider

    provider = PatchBalancerProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    import processing

    warm_image, warm_mask, *settings = sys.argv[1:]
    params = dict(arg.split("=", 1) for arg in settings)
    processing.run("patchbalancer:buildbalanceddataset",
                   {"IMAGE": warm_image, "MASK": warm_mask, "PATCH_SIZE": params.get("PATCH_SIZE", 256),
                    "OUTPUT": "TEMPORARY_OUTPUT"}, feedback=QgsProcessingFeedback())
    start = time.perf_counter()
    processing.run("patchbalancer:buildbalanceddataset", params, feedback=QgsProcessingFeedback())
    print(f"{time.perf_counter() - start:.2f}")
    app.exitQgis()


if __name__ == "__main__":
    main()
