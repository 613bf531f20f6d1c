"""Patch Balancer QGIS plugin."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .dependency_installer import activate, folder_for

    try:  # the optional packages installed by Plugins › Patch Balancer › Install dependencies…
        from qgis.core import QgsApplication

        activate(folder_for(QgsApplication.qgisSettingsDirPath()))
    except ImportError:  # pragma: no cover - not inside QGIS
        pass
    from .plugin import PatchBalancerPlugin

    return PatchBalancerPlugin(iface)
