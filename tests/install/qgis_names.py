"""Prints, as JSON, every name qgis.core and qgis.gui export in this QGIS, with each class's attributes: the
allow-list of the strict stand-ins in qt6_harness.py (run with QGIS's own Python)."""
import json
import sys


def names(module):
    out = {}
    for name in dir(module):
        if name.startswith("__"):
            continue
        value = getattr(module, name)
        out[name] = sorted(a for a in dir(value) if not a.startswith("__")) if isinstance(value, type) else None
    return out


if __name__ == "__main__":
    import qgis.core
    import qgis.gui

    json.dump({"qgis.core": names(qgis.core), "qgis.gui": names(qgis.gui),
               "version": qgis.core.Qgis.QGIS_VERSION}, sys.stdout)
