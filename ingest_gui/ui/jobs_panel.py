"""The jobs panel: one row per job, newest first; finished rows stay until cleared."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ingest_gui.core.jobs import Job, ProgressEvent
from ingest_gui.ui.dialogs import FailedFilesDialog
from ingest_gui.ui.job_queue import JobQueue
from ingest_gui.ui.job_row import JobRow
from ingest_gui.ui.tasks import Tasks

TICK_MS = 1000  # rate and time left move even when a slow batch sends no events


class JobsPanel(QWidget):
    """Subscribes to the job queue; the rows only read the jobs they show."""

    def __init__(self, queue: JobQueue, tasks: Tasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.tasks = tasks
        self.rows: dict[str, JobRow] = {}
        self.failure_dialogs: dict[str, FailedFilesDialog] = {}

        title = QLabel("Jobs")
        title.setObjectName("panelTitle")
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.setEnabled(False)
        self.clear_button.clicked.connect(self.clear_finished)
        header = QHBoxLayout()
        header.addWidget(title, 1)
        header.addWidget(self.clear_button)

        self.hint = QLabel(
            "Drop folders or images here to add them to the active collection,\n"
            "or use File ▸ Add folder… (Ctrl+O)."
        )
        self.hint.setObjectName("dropHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._list = QWidget()
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setContentsMargins(0, 0, 0, 0)
        self._list_layout.setSpacing(6)
        self._list_layout.addWidget(self.hint)
        self._list_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self._list)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(scroll, 1)

        self.tick = QTimer(self)
        self.tick.setInterval(TICK_MS)
        self.tick.timeout.connect(self._on_tick)

        queue.added.connect(self._on_added)
        queue.progress.connect(self._on_progress)
        queue.finished.connect(self._on_finished)

    def row(self, job: Job) -> JobRow:
        return self.rows[job.id]

    def clear_finished(self) -> None:
        """Remove the rows of finished jobs (their failure lists close with them)."""
        for job_id, row in list(self.rows.items()):
            if row.finished:
                del self.rows[job_id]
                dialog = self.failure_dialogs.pop(job_id, None)
                if dialog is not None:
                    dialog.close()
                row.setParent(None)
                row.deleteLater()
        self._update_chrome()

    def show_failures(self, job: Job) -> FailedFilesDialog:
        """Open (or raise) the list of a job's failed files."""
        dialog = self.failure_dialogs.get(job.id)
        if dialog is None:
            dialog = FailedFilesDialog(job, self.tasks, self.window())
            dialog.finished.connect(lambda _r, jid=job.id: self.failure_dialogs.pop(jid, None))
            self.failure_dialogs[job.id] = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def stop(self) -> None:
        self.tick.stop()

    def _on_added(self, job: Job) -> None:
        row = JobRow(job, self._list)
        row.cancel_requested.connect(self.queue.cancel)
        row.failures_requested.connect(self.show_failures)
        self.rows[job.id] = row
        self._list_layout.insertWidget(0, row)  # newest on top
        self._update_chrome()

    def _on_progress(self, event: ProgressEvent) -> None:
        row = self.rows.get(event.job_id)
        if row is None:
            return
        row.on_event(event)
        if event.job_id in self.failure_dialogs:
            self.failure_dialogs[event.job_id].refresh()

    def _on_finished(self, job: Job) -> None:
        row = self.rows.get(job.id)
        if row is not None:
            row.refresh()
        if job.id in self.failure_dialogs:
            self.failure_dialogs[job.id].refresh()
        self._update_chrome()

    def _on_tick(self) -> None:
        for row in self.rows.values():
            if not row.finished:
                row.refresh()

    def _update_chrome(self) -> None:
        self.hint.setVisible(not self.rows)
        self.clear_button.setEnabled(any(r.finished for r in self.rows.values()))
        running = any(not r.finished for r in self.rows.values())
        if running and not self.tick.isActive():
            self.tick.start()
        elif not running:
            self.tick.stop()
