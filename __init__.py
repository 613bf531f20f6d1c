"""Patch Balancer QGIS plugin."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import PatchBalancerPlugin

    return PatchBalancerPlugin(iface)
