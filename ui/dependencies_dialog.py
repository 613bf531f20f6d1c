"""Plugins › Patch Balancer › Install dependencies…: what is present or missing per capability, and an installer.

The work is done by `dependency_installer.install` (the same code the tests run) on a worker thread; this
dialog only shows its progress and log, and can cancel it.
"""
import os

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QObject, QThread, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from .. import dependency_installer as installer
from ..balance_core.dependencies import PIP_NAMES


class _Worker(QObject):
    line = pyqtSignal(str)
    done = pyqtSignal(object)

    def __init__(self, groups, folder, wheel_dir):
        super().__init__()
        self.groups, self.folder, self.wheel_dir = groups, folder, wheel_dir
        self.cancel_requested = False

    def run(self):
        result = installer.install(self.groups, self.folder, log=self.line.emit,
                                   cancelled=lambda: self.cancel_requested, wheel_dir=self.wheel_dir or None)
        self.done.emit(result)


class DependenciesDialog(QDialog):
    def __init__(self, parent=None, folder=None):
        super().__init__(parent)
        self.setWindowTitle("Patch Balancer: Python packages")
        self.setObjectName("PatchBalancerDependencies")
        self.folder = folder or installer.folder_for(QgsApplication.qgisSettingsDirPath())
        self.thread = self.worker = None
        self.result = None
        self.checks, self.states = {}, {}

        layout = QVBoxLayout(self)
        intro = QLabel("Patch Balancer runs on what QGIS ships. These optional packages add capabilities; they are "
                       "installed with QGIS's own Python into a folder of this profile, with numpy kept at "
                       "QGIS's version.")
        intro.setWordWrap(True)
        layout.addWidget(intro)

        box = QGroupBox("Capabilities")
        grid = QGridLayout(box)
        for row, status in enumerate(installer.status(self.folder)):
            check = QCheckBox(status.group.label)
            check.setToolTip(status.group.purpose)
            state = QLabel()
            state.setWordWrap(True)
            state.setIndent(24)  # under its checkbox, indented
            grid.addWidget(check, 2 * row, 0)
            grid.addWidget(state, 2 * row + 1, 0)
            self.checks[status.group.key], self.states[status.group.key] = check, state
        layout.addWidget(box)

        folder_label = QLabel(f"Folder: {self.folder}")
        folder_label.setWordWrap(True)
        layout.addWidget(folder_label)

        wheels = QHBoxLayout()
        self.wheel_dir = QLineEdit()
        self.wheel_dir.setPlaceholderText("From a folder of wheels (offline; leave empty to use the package index)")
        browse = QPushButton("…")
        browse.clicked.connect(self.choose_wheel_dir)
        wheels.addWidget(self.wheel_dir)
        wheels.addWidget(browse)
        layout.addLayout(wheels)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        layout.addWidget(self.progress)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMinimumHeight(140)
        layout.addWidget(self.log)

        buttons = QDialogButtonBox()
        self.install_button = buttons.addButton("Install selected", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = buttons.addButton("Cancel install", QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.install_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.cancel_button.setEnabled(False)
        layout.addWidget(buttons)
        self.resize(640, 520)
        self.refresh()

    def refresh(self):
        """Present/missing per capability; the missing ones are ticked for installation."""
        for status in installer.status(self.folder):
            key = status.group.key
            parts = []
            for module, present in status.present.items():
                name = PIP_NAMES.get(module, module)
                where = " (plugin folder)" if status.in_folder[module] else ""
                parts.append(f"{name}: {'present' + where if present else 'missing'}")
            self.states[key].setText("; ".join(parts))
            self.checks[key].setChecked(not status.complete and status.group.offered)
        self.install_button.setEnabled(self.thread is None)

    def choose_wheel_dir(self):
        folder = QFileDialog.getExistingDirectory(self, "Folder of downloaded wheels", os.path.expanduser("~"))
        if folder:
            self.wheel_dir.setText(folder)

    def selected(self):
        return [key for key, check in self.checks.items() if check.isChecked()]

    def start(self):
        groups = self.selected()
        if not groups or self.thread is not None:
            self.message.setText("Tick at least one capability to install." if not groups else self.message.text())
            return
        self.log.clear()
        self.message.setText("Installing " + ", ".join(self.checks[g].text() for g in groups) + "…")
        self.progress.setRange(0, 0)  # busy: pip reports no overall fraction
        self.install_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.thread = QThread(self)
        self.worker = _Worker(groups, self.folder, self.wheel_dir.text().strip())
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.line.connect(self.on_line)
        self.worker.done.connect(self.finished)
        self.thread.start()

    def on_line(self, line):
        """pip's log, and its current step (collecting, downloading, installing) as the progress text."""
        self.log.appendPlainText(line)
        step = line.strip()
        if step.startswith(("Collecting ", "Downloading ", "Installing collected packages", "Successfully installed")):
            self.progress.setFormat(step[:120])
            self.progress.setTextVisible(True)

    def cancel(self):
        if self.worker is not None:
            self.worker.cancel_requested = True
            self.message.setText("Cancelling…")

    def finished(self, result):
        self.result = result
        self.thread.quit()
        self.thread.wait()
        self.thread = self.worker = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if result.ok else 0)
        self.progress.setTextVisible(False)
        self.cancel_button.setEnabled(False)
        self.message.setText(("Done. " if result.ok else "Not installed. ") + result.message)
        self.refresh()

    def close_and_forget(self):
        """On plugin unload: stop an install in progress and go."""
        self.cancel()
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait(15000)
        self.close()
        self.deleteLater()
