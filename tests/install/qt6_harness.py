"""The plugin under PyQt6, as QGIS 4 (Qt6) would run it, without a Qt6 QGIS.

`qgis.PyQt.*` is mapped to PyQt6 the way QGIS's Qt6 shim does it (QAction and QShortcut also in QtWidgets);
`qgis.core` and `qgis.gui` are strict stand-ins: only names the real QGIS exports can be imported, and a class
attribute (an enum member, a static method) must exist on the real class (allow-list from qgis_names.py);
their objects accept any call. Widget base classes (QgsDockWidget, …) are the real PyQt6 widgets.

Then it imports every module the ZIP ships, builds the class balance dock, the chart (painted), the
dependencies dialog, and runs the plugin's classFactory → initGui → unload. A Python exception anywhere,
also inside a Qt slot or paint event, is reported.

    python qt6_harness.py NAMES.json    → one JSON line 'QT6-REPORT {...}' on stdout
"""
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import traceback
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ERRORS = []


def record_exception(kind, value, tb):  # PyQt6 aborts on an exception in a slot unless this is set
    ERRORS.append("".join(traceback.format_exception(kind, value, tb)))


class _Stub:
    """Whatever a QGIS object returns: any attribute, any call, iterates as empty."""

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub()

    def __call__(self, *args, **kwargs):
        return _Stub()

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return True


def _typed_returns():
    """What a few QGIS calls must return for Qt to take it (a QIcon where Qt wants an icon, a path as text)."""
    from qgis.PyQt.QtGui import QIcon  # the shim install_fakes put in place

    folder = tempfile.mkdtemp(prefix="qt6-profile-")
    return {("QgsApplication", "getThemeIcon"): lambda *a: QIcon(),
            ("QgsApplication", "qgisSettingsDirPath"): lambda *a: folder,
            ("QgsApplication", "iconPath"): lambda *a: ""}


def _strict_class(module_name, name, members):
    allowed = set(members)

    class StrictMeta(type):
        def __getattr__(cls, attr):
            if attr.startswith("__") or attr in allowed:
                if attr.startswith("__"):
                    raise AttributeError(attr)
                typed = TYPED.get((name, attr))
                return typed if typed is not None else _Stub()
            raise AttributeError(f"{module_name}.{name} has no attribute {attr!r} in QGIS")

    return StrictMeta(name, (_Stub,), {"__module__": module_name})


TYPED = {}


BINDING = "PyQt6"  # what qgis.PyQt maps to in a Qt6 QGIS


def install_fakes(names):
    """Stand in for QGIS's own qgis.PyQt shim (the one place that names the binding) and for qgis.core/gui."""
    QtCore, QtGui, QtSvg, QtWidgets, QtXml, sip = (importlib.import_module(f"{BINDING}.{m}")
                                                    for m in ("QtCore", "QtGui", "QtSvg", "QtWidgets", "QtXml", "sip"))

    qgis = types.ModuleType("qgis")
    qgis.__path__ = []
    pyqt = types.ModuleType("qgis.PyQt")
    pyqt.__path__ = []
    widgets = types.ModuleType("qgis.PyQt.QtWidgets")
    widgets.__dict__.update({k: v for k, v in vars(QtWidgets).items() if not k.startswith("__")})
    widgets.QAction, widgets.QShortcut = QtGui.QAction, QtGui.QShortcut  # QGIS's Qt6 shim
    modules = {"qgis": qgis, "qgis.PyQt": pyqt, "qgis.PyQt.QtCore": QtCore, "qgis.PyQt.QtGui": QtGui,
               "qgis.PyQt.QtWidgets": widgets, "qgis.PyQt.QtSvg": QtSvg, "qgis.PyQt.QtXml": QtXml,
               "qgis.PyQt.sip": sip}
    for module in ("QtCore", "QtGui", "QtWidgets", "QtSvg", "QtXml", "sip"):
        setattr(pyqt, module, modules[f"qgis.PyQt.{module}"])
    bases = {"QgsDockWidget": QtWidgets.QDockWidget, "QgsMapCanvas": QtWidgets.QGraphicsView,
             "QgsMessageBar": QtWidgets.QFrame, "QgsCollapsibleGroupBox": QtWidgets.QGroupBox,
             "QgsColorButton": QtWidgets.QToolButton, "QgsFilterLineEdit": QtWidgets.QLineEdit,
             "QgsSpinBox": QtWidgets.QSpinBox, "QgsDoubleSpinBox": QtWidgets.QDoubleSpinBox}
    for module_name in ("qgis.core", "qgis.gui"):
        allowed = names[module_name]
        module = types.ModuleType(module_name)

        def getattr_(attr, module_name=module_name, allowed=allowed, module=module):
            if attr not in allowed:
                raise AttributeError(f"module {module_name!r} has no attribute {attr!r} in QGIS")
            if attr in bases:
                value = type(attr, (bases[attr],), {"__module__": module_name})
            elif allowed[attr] is not None:
                value = _strict_class(module_name, attr, allowed[attr])
            else:
                value = _Stub()
            setattr(module, attr, value)
            return value

        module.__getattr__ = getattr_
        modules[module_name] = module
        setattr(qgis, module_name.split(".")[1], module)
    sys.modules.update(modules)


def load_plugin():
    spec = importlib.util.spec_from_file_location("patch_balancer", REPO / "__init__.py",
                                                  submodule_search_locations=[str(REPO)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["patch_balancer"] = package
    spec.loader.exec_module(package)
    return package


def main(names_path):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    names = json.loads(Path(names_path).read_text())
    install_fakes(names)
    from qgis.PyQt.QtCore import QObject, QT_VERSION_STR, pyqtSignal
    from qgis.PyQt.QtWidgets import QApplication, QMainWindow

    sys.excepthook = record_exception
    app = QApplication([])
    TYPED.update(_typed_returns())
    report = {"qt": QT_VERSION_STR, "qgis_names_from": names["version"], "imported": [], "failed": {}}
    sys.path.insert(0, str(REPO))
    from scripts.package import runtime_files

    package = load_plugin()
    for name in runtime_files():
        if not name.endswith(".py") or name.endswith("__main__.py"):  # a command line, not imported by QGIS
            continue
        module = "patch_balancer." + name[:-3].replace("/", ".").replace(".__init__", "")
        module = module if name != "__init__.py" else "patch_balancer"
        try:
            importlib.import_module(module)
            report["imported"].append(module)
        except Exception:  # noqa: BLE001 - reported
            report["failed"][module] = traceback.format_exc()

    def step(label, action):
        try:
            action()
            app.processEvents()
            report[label] = "ok"
        except Exception:  # noqa: BLE001 - reported
            report[label] = traceback.format_exc()

    window = QMainWindow()
    window.show()

    class Iface(QObject):
        currentLayerChanged = pyqtSignal(object)  # noqa: N815

        def __init__(self):
            super().__init__()
            self.menus, self.toolbar = {}, []

        def mainWindow(self):  # noqa: N802
            return window

        def activeLayer(self):  # noqa: N802
            return None

        def addDockWidget(self, area, dock):  # noqa: N802
            window.addDockWidget(area, dock)

        def removeDockWidget(self, dock):  # noqa: N802
            window.removeDockWidget(dock)

        def addPluginToMenu(self, menu, action):  # noqa: N802
            self.menus.setdefault(menu, []).append(action)

        def removePluginMenu(self, menu, action):  # noqa: N802
            self.menus[menu].remove(action)

        def addToolBarIcon(self, action):  # noqa: N802
            self.toolbar.append(action)

        def removeToolBarIcon(self, action):  # noqa: N802
            self.toolbar.remove(action)

        def __getattr__(self, name):
            if name.startswith("_"):
                raise AttributeError(name)
            return _Stub()

    def build_dock():
        from patch_balancer.ui.class_balance_dock import ClassBalanceDock

        dock = ClassBalanceDock(window)
        dock.show()
        dock.set_layer(None)
        app.processEvents()
        dock.release()
        dock.deleteLater()

    def build_chart():
        from patch_balancer.ui.balance_chart import BalanceChart, ChartEntry

        chart = BalanceChart()
        chart.set_entries([ChartEntry("field", "#88cc44", 0.97, 0.5), ChartEntry("road", "#444444", 0.001, 0.3),
                           ChartEntry("pond", "#3366ff", 0.029, 0.2)])
        chart.resize(420, 240)
        chart.show()
        app.processEvents()
        image = chart.to_image(2.0)
        assert image.width() > 0 and not image.isNull()
        chart.set_entries([])
        chart.grab()
        chart.deleteLater()

    def build_dependencies_dialog():
        from patch_balancer.ui.dependencies_dialog import DependenciesDialog

        dialog = DependenciesDialog(window, folder=tempfile.mkdtemp())
        dialog.show()
        dialog.refresh()
        report["dialog_groups"] = sorted(dialog.checks)
        dialog.close_and_forget()

    def plugin_lifecycle():
        iface = Iface()
        plugin = package.classFactory(iface)
        plugin.initGui()
        assert iface.menus and iface.toolbar, "no menu or toolbar entry"
        plugin.show_active_layer()
        plugin.show_dependencies()
        app.processEvents()
        plugin.unload()
        assert not any(iface.menus.values()) and not iface.toolbar, "entries left after unload"

    def canaries():
        """The stand-ins refuse what QGIS lacks, and PyQt6 refuses unscoped enums: else this test proves nothing."""
        refused = {}
        for label, code in (("unknown qgis.core name", "from qgis.core import QgsNoSuchClass"),
                            ("unknown class member", "from qgis.core import QgsProcessing; QgsProcessing.NoSuchType"),
                            ("unscoped Qt enum", "from qgis.PyQt.QtCore import Qt; Qt.AlignLeft"),
                            ("exec_", "from qgis.PyQt.QtWidgets import QDialog; QDialog.exec_")):
            try:
                exec(code, {})  # nosec B102 - fixed test snippets
                refused[label] = False
            except (ImportError, AttributeError):
                refused[label] = True
        from qgis.core import QgsProcessing

        refused["known member accepted"] = QgsProcessing.TypeVectorPolygon is not None
        report["canaries"] = refused

    step("canary", canaries)
    step("dock", build_dock)
    step("chart", build_chart)
    step("dependencies_dialog", build_dependencies_dialog)
    step("init_gui_unload", plugin_lifecycle)
    report["slot_errors"] = ERRORS
    print("QT6-REPORT " + json.dumps(report), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
