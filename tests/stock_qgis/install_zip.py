"""Installs a plugin ZIP into a fresh profile with QGIS's own plugin installer (Plugins › Manage and Install
Plugins › Install from ZIP: pyplugin_installer's installFromZipFile), and reports what it did as JSON.

    python3 install_zip.py ZIP        (QGIS_CUSTOM_CONFIG_PATH names the fresh profile)
"""
import json
import os
import sys


def main(zip_path):
    from qgis.core import QgsApplication, QgsSettings
    from qgis.PyQt.QtCore import QCoreApplication

    QCoreApplication.setOrganizationName("QGIS")  # as QGIS itself: the profile's QGIS/QGIS3.ini
    QCoreApplication.setOrganizationDomain("qgis.org")
    QCoreApplication.setApplicationName("QGIS3")
    app = QgsApplication([], True)
    app.initQgis()
    python_dir = os.path.join(QgsApplication.pkgDataPath(), "python")
    sys.path[:0] = [python_dir, os.path.join(python_dir, "plugins")]
    import qgis.utils
    from qgis.PyQt.QtWidgets import QMainWindow

    from iface import StandInIface

    window = QMainWindow()
    iface = StandInIface(window)
    qgis.utils.iface = iface
    home = os.path.join(QgsApplication.qgisSettingsDirPath(), "python", "plugins")
    qgis.utils.home_plugin_path = home
    qgis.utils.plugin_paths = [home]
    os.makedirs(home, exist_ok=True)
    sys.path.insert(0, home)  # as QGIS puts its plugin folders on the path
    QgsSettings().setValue("app/plugin_installer/checkOnStart", False)  # no fetch from the repository here
    import pyplugin_installer
    from pyplugin_installer import installer

    installer.iface = iface  # the module took qgis.utils.iface (None) at import
    pyplugin_installer.instance().installFromZipFile(zip_path)
    report = {
        "installed_files": sorted(os.listdir(os.path.join(home, "patch_balancer"))),
        "enabled": QgsSettings().value("PythonPlugins/patch_balancer", False, type=bool),
        "started": "patch_balancer" in qgis.utils.plugins,
        "provider": QgsApplication.processingRegistry().providerById("patchbalancer") is not None,
        "messages": [c for c in iface.calls][:20],
        "errors": {k: v.get("error") for k, v in installer.plugins.all().items() if k == "patch_balancer"},
    }
    QgsSettings().sync()
    print("INSTALL-REPORT " + json.dumps(report), flush=True)
    os._exit(0)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv[1])
