"""Static Qt6 check of the plugin's sources, against the real PyQt6 (run with a Python that has PyQt6).

For every `Name.attr` where Name is imported from `qgis.PyQt.<module>`, the attribute must exist on PyQt6's
class: PyQt6 keeps enum members only in their scoped enum (`Qt.AlignLeft` is gone, `Qt.AlignmentFlag.AlignLeft`
works in PyQt5 too); the check names the scoped spelling. Also: no `exec_()`, and no name imported from a
qgis.PyQt module that PyQt6 (with QGIS's shim: QAction and QShortcut in QtWidgets) lacks.

    python qt6_static.py [--binding=PyQt5] FILE...    → one line per problem, exit 1 if any

With --binding=PyQt5 (QGIS 3's own Python) it checks that the spellings exist in PyQt5 as well.
"""
import ast
import enum
import importlib
import sys

SHIM = {"QtWidgets": {"QAction": "QtGui", "QShortcut": "QtGui"}}  # QGIS's qgis.PyQt.QtWidgets under Qt6


BINDING = "PyQt6"


def pyqt6_object(module: str, name: str):
    moved = SHIM.get(module, {}).get(name) if BINDING == "PyQt6" else None
    mod = importlib.import_module(f"{BINDING}.{moved or module}")
    return getattr(mod, name, None)


def scoped_spelling(cls, member: str):
    """'EnumName.member' if `member` lives in one of the class's scoped enums."""
    for enum_name in dir(cls):
        candidate = getattr(cls, enum_name, None)
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum) and member in candidate.__members__:
            return f"{enum_name}.{member}"
    return None


def problems_in(path: str) -> list:
    source = open(path, encoding="utf-8").read()
    tree = ast.parse(source, path)
    imported = {}  # local name -> (qt module, name)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qgis.PyQt."):
            qt_module = node.module.split(".")[2]
            for alias in node.names:
                if qt_module == "sip":
                    continue
                obj = pyqt6_object(qt_module, alias.name)
                if obj is None:
                    out.append(f"{path}:{node.lineno}: {alias.name} is not in PyQt6's {qt_module}")
                    continue
                imported[alias.asname or alias.name] = (qt_module, alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported:
            cls = pyqt6_object(*imported[node.value.id])
            if isinstance(cls, type) and not hasattr(cls, node.attr):
                scoped = scoped_spelling(cls, node.attr)
                hint = f"use {node.value.id}.{scoped}" if scoped else "not in PyQt6"
                out.append(f"{path}:{node.lineno}: {node.value.id}.{node.attr}: {hint}")
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name) and node.value.value.id in imported):
            cls = pyqt6_object(*imported[node.value.value.id])
            scope = getattr(cls, node.value.attr, None) if isinstance(cls, type) else None
            if isinstance(scope, type) and not hasattr(scope, node.attr):
                out.append(f"{path}:{node.lineno}: {node.value.value.id}.{node.value.attr}.{node.attr} is not in "
                           f"{BINDING}")
        if isinstance(node, ast.Attribute) and node.attr == "exec_":
            out.append(f"{path}:{node.lineno}: exec_() does not exist in PyQt6: use exec()")
    return out


def main(paths) -> int:
    global BINDING
    if paths and paths[0].startswith("--binding="):
        BINDING, paths = paths[0].split("=", 1)[1], paths[1:]
    problems = [p for path in paths for p in problems_in(path)]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
