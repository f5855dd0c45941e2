"""Small dialogs: confirm, error, create collection, choose collection, failed files.

Dialogs that feed a background operation open with `open()` (window-modal, no nested event
loop inside a coroutine) and report through `accepted`; tests fill and accept them directly.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ingest_gui.core.errors import IngestError
from ingest_gui.core.jobs import FileError, Job
from ingest_gui.core.settings import DISTANCES, Settings
from ingest_gui.core.store import CollectionInfo, validate_name
from ingest_gui.ui import format as fmt
from ingest_gui.ui.tasks import Tasks

log = logging.getLogger(__name__)

BACKEND_LABELS = {
    "builtin": "Built-in pixel descriptor (no service needed)",
    "http": "ML inference service (CLIP + captions)",
}


def confirm(parent: QWidget | None, title: str, text: str, yes: str = "OK") -> bool:
    """Ask a yes/no question (modal); only called from plain slots, never inside a coroutine."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    ok = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is ok


def show_error(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    """Show a readable error without blocking (safe from coroutines)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.open()
    return box


@dataclass(frozen=True)
class NewCollection:
    """What the create dialog asks the collection manager for."""

    name: str
    vector_size: int
    distance: str
    backend: str


class CreateCollectionDialog(QDialog):
    """Name, vector size, distance and model of a new collection, validated as typed."""

    def __init__(
        self, settings: Settings, existing: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New collection")
        self._existing = {n.lower() for n in existing}
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. holidays-2024")
        self.name.setMaxLength(63)
        self.backend = QComboBox()
        for key, label in BACKEND_LABELS.items():
            self.backend.addItem(label, key)
        self.backend.setCurrentIndex(self.backend.findData(settings.backend))
        self.vector_size = QSpinBox()
        self.vector_size.setRange(1, 65536)
        self.vector_size.setValue(settings.vector_size)
        self.distance = QComboBox()
        self.distance.addItems(list(DISTANCES))
        self.distance.setCurrentText(settings.distance)
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        self.model_note.setObjectName("note")
        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self._ml_url = settings.ml_url

        form = QFormLayout()
        form.addRow("&Name:", self.name)
        form.addRow("&Model:", self.backend)
        form.addRow("", self.model_note)
        form.addRow("&Vector size:", self.vector_size)
        form.addRow("&Distance:", self.distance)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._validate)
        self.backend.currentIndexChanged.connect(self._validate)
        self._validate()
        self.setMinimumWidth(440)

    def values(self) -> NewCollection:
        return NewCollection(
            self.name.text().strip(),
            self.vector_size.value(),
            self.distance.currentText(),
            str(self.backend.currentData()),
        )

    def problem_text(self) -> str:
        """Why the values cannot be used, or '' when they can."""
        name = self.name.text().strip()
        if not name:
            return "Give the collection a name."
        try:
            validate_name(name)
        except IngestError as exc:
            return str(exc)
        if name.lower() in self._existing:
            return f"A collection named {name!r} already exists."
        return ""

    def accept(self) -> None:
        if self.problem_text():
            return  # the button is disabled; this guards Enter and programmatic accepts
        super().accept()

    def _validate(self) -> None:
        problem = self.problem_text()
        self.problem.setText(problem if self.name.text() else "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
        if self.backend.currentData() == "http":
            self.model_note.setText(
                f"Embeddings and captions from the service at {self._ml_url}; "
                "its CLIP model gives 512-dimensional vectors."
            )
        else:
            self.model_note.setText("Computed on this machine from colours, layout and texture.")


class ChooseCollectionDialog(QDialog):
    """Which collection a drop goes to, when none is active; or create a new one."""

    def __init__(
        self, collections: list[CollectionInfo], count: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a collection")
        self.wants_new = False
        what = "1 item" if count == 1 else f"{count} items"
        text = QLabel(f"Which collection should the {what} go to?")
        self.list = QListWidget()
        for info in collections:
            item = QListWidgetItem(
                f"{info.name}  —  {fmt.count(info.points)} points, "
                f"{info.model or info.backend or 'model not yet known'}"
            )
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            self.list.addItem(item)
        if collections:
            self.list.setCurrentRow(0)
        else:
            text.setText("There are no collections yet: create one for these images.")
        self.new_button = QPushButton("New collection…")
        self.new_button.clicked.connect(self._new)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add to collection")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(collections))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        bottom = QHBoxLayout()
        bottom.addWidget(self.new_button)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.list)
        layout.addLayout(bottom)
        self.setMinimumWidth(420)

    def chosen(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None or self.wants_new else str(item.data(Qt.ItemDataRole.UserRole))

    def _new(self) -> None:
        self.wants_new = True
        self.accept()


class FailedFilesDialog(QDialog):
    """A job's failed files (path, stage, reason), growing while the job runs; CSV export."""

    exported = Signal(str)  # the CSV file written
    export_failed = Signal(str)  # why it could not be written

    def __init__(self, job: Job, tasks: Tasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.tasks = tasks
        self.setWindowTitle(f"Failed files — {job.collection}")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["File", "Stage", "Reason"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(0, 360)
        self.summary = QLabel()
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self._ask_export)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(self.export_button)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(bottom)
        self.resize(860, 420)
        self.refresh()

    def errors(self) -> list[FileError]:
        # A copy: the job's thread may append while we read.
        return list(self.job.errors)

    def refresh(self) -> None:
        """Append the failures reported since the last refresh."""
        errors = self.errors()
        for err in errors[self.table.rowCount():]:
            row = self.table.rowCount()
            self.table.insertRow(row)
            path_item = QTableWidgetItem(err.path)
            path_item.setToolTip(err.path)
            self.table.setItem(row, 0, path_item)
            self.table.setItem(row, 1, QTableWidgetItem(err.stage))
            reason = QTableWidgetItem(err.reason)
            reason.setToolTip(err.reason)
            self.table.setItem(row, 2, reason)
        self.summary.setText(f"{fmt.count(len(errors))} failed of {fmt.count(self.job.counters.total)}")
        self.export_button.setEnabled(bool(errors))

    def export_csv(self, path: Path) -> None:
        """Write the list to a CSV file on the pool; `exported` or `export_failed` tells."""
        self.tasks.spawn(self._export(path, self.errors()))

    async def _export(self, path: Path, errors: list[FileError]) -> None:
        try:
            await self.tasks.run(write_errors_csv, path, errors)
        except OSError as exc:
            reason = f"Could not write {path}: {exc.strerror or exc}"
            show_error(self, "Export failed", reason)
            self.export_failed.emit(reason)
            return
        self.exported.emit(str(path))

    def _ask_export(self) -> None:
        name, _filter = QFileDialog.getSaveFileName(
            self, "Export failed files", f"failed-{self.job.id}.csv", "CSV files (*.csv)"
        )
        if name:
            self.export_csv(Path(name))


def write_errors_csv(path: Path, errors: list[FileError]) -> None:
    """path, stage, reason — one row per failed file, UTF-8 with a header."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "stage", "reason"])
        for err in errors:
            writer.writerow([err.path, err.stage, err.reason])
