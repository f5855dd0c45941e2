"""One job in the jobs panel: progress bar, counts, rate and time left, state, cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ingest_gui.core.jobs import Job, JobState, ProgressEvent
from ingest_gui.ui import format as fmt

_STATE_COLOURS = {
    JobState.QUEUED: "#6b7280",
    JobState.RUNNING: "#2563eb",
    JobState.COMPLETED: "#15803d",
    JobState.FAILED: "#b91c1c",
    JobState.CANCELLED: "#b45309",
}


def folders_text(job: Job) -> str:
    """'Pictures/2024' or 'Pictures/2024 + 2 more'."""
    names = [f"{p.parent.name}/{p.name}" if p.parent.name else str(p) for p in job.folders]
    more = f" + {len(names) - 1} more" if len(names) > 1 else ""
    return (names[0] if names else "?") + more


class JobRow(QFrame):
    """Shows one job; reads the shared Job object, changes nothing in it but `cancel`."""

    cancel_requested = Signal(object)  # Job
    failures_requested = Signal(object)  # Job

    def __init__(self, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.rate = fmt.RateMeter()
        self.setObjectName("jobRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        self.title = QLabel(f"<b>{folders_text(job)}</b> → {job.collection}")
        self.title.setToolTip("\n".join(str(f) for f in job.folders))
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.state = QLabel()
        self.state.setObjectName("jobState")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this job; what it has done so far is kept")
        self.cancel_button.clicked.connect(self._cancel)
        self.failures_button = QPushButton()
        self.failures_button.setToolTip("Files that could not be ingested, with the reason")
        self.failures_button.clicked.connect(lambda: self.failures_requested.emit(self.job))
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.counts = QLabel()
        self.counts.setObjectName("jobCounts")
        self.pace = QLabel()
        self.pace.setObjectName("jobPace")
        self.pace.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.message = QLabel()
        self.message.setObjectName("jobMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.state)
        top.addWidget(self.failures_button)
        top.addWidget(self.cancel_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.counts, 1)
        bottom.addWidget(self.pace)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addLayout(bottom)
        layout.addWidget(self.message)
        self.refresh()

    @property
    def finished(self) -> bool:
        return self.job.state.finished

    def on_event(self, event: ProgressEvent) -> None:
        """A (coalesced) event of this job arrived."""
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the job; counters are an immutable snapshot, safe to read any time."""
        job, c = self.job, self.job.counters
        if job.state is JobState.RUNNING:
            self.rate.add(c.done)
        if job.state is JobState.RUNNING and c.total == 0:
            self.progress.setRange(0, 0)  # scanning: a busy bar until the total is known
        elif c.total == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if job.state.finished else 0)
        else:
            self.progress.setRange(0, c.total)
            self.progress.setValue(c.done)
        self.counts.setText(fmt.counts_text(c))
        self.pace.setText(self._pace_text())
        colour = _STATE_COLOURS[job.state]
        self.state.setText(fmt.state_text(job))
        self.state.setStyleSheet(f"color: {colour}; font-weight: 600;")
        self.cancel_button.setVisible(not job.state.finished)
        self.cancel_button.setEnabled(not job.cancelled)
        self.failures_button.setVisible(c.failed > 0)
        self.failures_button.setText(f"{fmt.count(c.failed)} failed…")
        self.message.setVisible(bool(job.message))
        self.message.setText(job.message or "")
        self.message.setStyleSheet(f"color: {_STATE_COLOURS[JobState.FAILED]};")

    def _pace_text(self) -> str:
        job, c = self.job, self.job.counters
        if job.state.finished:
            elapsed = fmt.duration(job.elapsed_s)
            rate = c.done / job.elapsed_s if job.elapsed_s > 0 else 0.0
            return f"{rate:,.1f} files/s · took {elapsed}"
        if job.state is JobState.QUEUED:
            return "waiting for a free slot"
        pace = self.rate.rate()
        eta = self.rate.eta_s(c.total - c.done)
        if pace is None:
            return f"elapsed {fmt.duration(job.elapsed_s)}"
        left = f"{fmt.duration(eta)} left" if eta is not None else "stalled"
        return f"{pace:,.1f} files/s · {left}"

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.cancel_requested.emit(self.job)
