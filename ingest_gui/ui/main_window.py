"""The main window: assembles the panels, menus, status bar, drop target and window state."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QThreadPool
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ingest_gui.appinfo import APP_NAME
from ingest_gui.core.jobs import Job, JobState
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.services import Services
from ingest_gui.core.settings import Settings
from ingest_gui.ui import dialogs, settings_dialog
from ingest_gui.ui.collections_panel import CollectionsPanel
from ingest_gui.ui.crash import open_log_folder
from ingest_gui.ui.dialogs import ChooseCollectionDialog
from ingest_gui.ui.drop import DropOverlay, plan_drop
from ingest_gui.ui.job_queue import POOL_THREADS, JobQueue
from ingest_gui.ui.jobs_panel import JobsPanel
from ingest_gui.ui.menus import about_html, build_menus
from ingest_gui.ui.settings_dialog import RESTART_FIELDS, SettingsDialog, save_user_settings
from ingest_gui.ui.status import Health, HealthLabel, HealthMonitor
from ingest_gui.ui.tasks import Tasks

log = logging.getLogger(__name__)

WINDOW_STATE_FILE = "window.ini"
SHUTDOWN_TIMEOUT_MS = 60_000


class MainWindow(QMainWindow):
    """Owns one QThreadPool and uses the one Services it is given (the app closes it)."""

    def __init__(self, services: Services, pool: QThreadPool | None = None) -> None:
        super().__init__()
        self.services = services
        if pool is None:
            pool = QThreadPool(self)
            pool.setMaxThreadCount(POOL_THREADS)
        self.pool = pool
        self.tasks = Tasks(pool)
        self.manager = CollectionManager(services)
        self.queue = JobQueue(services, pool, parent=self)
        # Injectable so tests can answer modal questions and native dialogs.
        self.confirm: Callable[[QWidget | None, str, str, str], bool] = dialogs.confirm
        self.pick_folder: Callable[[], Path | None] = self._pick_folder
        self.choose_dialog: ChooseCollectionDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self._started = False
        self._shut_down = False
        self._waiting_paths: list[Path] = []
        self.force_quit = False  # set when quitting on a signal: no question asked

        self.setWindowTitle(APP_NAME)
        self.collections = CollectionsPanel(self.manager, self.tasks, self.queue.collections_in_use)
        self.jobs = JobsPanel(self.queue, self.tasks)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.collections)
        self.splitter.addWidget(self.jobs)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 10, 10, 6)
        layout.addWidget(self.splitter)
        self.setCentralWidget(central)
        self.overlay = DropOverlay(central)
        self.setAcceptDrops(True)

        self.health = HealthMonitor(services, self.tasks, parent=self)
        self.ml_label = HealthLabel("ML service")
        self.qdrant_label = HealthLabel("Qdrant")
        self.active_label = QLabel()
        bar = self.statusBar()
        bar.addPermanentWidget(self.active_label)
        bar.addPermanentWidget(self.ml_label)
        bar.addPermanentWidget(self.qdrant_label)
        self.menu_actions = build_menus(self)

        self.collections.error.connect(self.show_error)
        self.collections.message.connect(self.show_message)
        self.collections.active_changed.connect(self._on_active_changed)
        self.collections.listed.connect(lambda _rows: self._refresh_ml_label())
        self.collections.listed.connect(lambda _rows: self._add_waiting_paths())
        self.health.ml_checked.connect(lambda _h: self._refresh_ml_label())
        self.health.qdrant_checked.connect(self._on_qdrant_checked)
        self.health.collections_listed.connect(self.collections.update_collections)
        self.queue.finished.connect(self._on_job_finished)
        self._on_active_changed(None)

        self.window_state = QSettings(
            str(services.settings.data_dir / WINDOW_STATE_FILE), QSettings.Format.IniFormat
        )
        self._restore_state()

    # life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Load the collections and start the health checks (once, when first shown)."""
        if self._started:
            return
        self._started = True
        self.tasks.spawn(self.collections.refresh())
        self.health.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.start()

    def closeEvent(self, event: QCloseEvent) -> None:
        running = self.queue.active()
        if running and not self.force_quit:
            n = len(running)
            text = (
                f"{'A job is' if n == 1 else f'{n} jobs are'} still running. "
                "Cancel and quit?\nWhat they have done so far is kept."
            )
            if not self.confirm(self, f"Quit {APP_NAME}", text, "Cancel jobs and quit"):
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Save window state, stop timers, cancel jobs and tasks, wait for the pool."""
        if self._shut_down:
            return
        self._shut_down = True
        self._save_state()
        self.hide()  # gone at once for the person; a job may take a moment to stop
        self.health.stop()
        self.jobs.stop()
        self.statusBar().clearMessage()  # also stops the message's time-out timer
        if not self.queue.close(SHUTDOWN_TIMEOUT_MS):
            log.warning("quitting with a job still stopping")
        self.tasks.cancel_all()
        self.pool.waitForDone(SHUTDOWN_TIMEOUT_MS)
        log.info("window shut down")

    # adding folders ------------------------------------------------------------------------
    def add_paths(self, paths: list[Path]) -> Job | None:
        """Ingest folders or images into the active collection, or ask which collection."""
        if not paths:
            return None
        if not self.collections.loaded:
            # Start-up arguments or a hand-off can come before the first listing says
            # which collection is active: keep them until it has.
            self._waiting_paths.extend(paths)
            return None
        name = self.collections.active
        if name is not None:
            return self._submit(paths, name)
        self.ask_collection(paths)
        return None

    def ask_collection(self, paths: list[Path]) -> ChooseCollectionDialog:
        """Ask which collection (or a new one) the paths go to; the job starts on accept."""
        dialog = ChooseCollectionDialog(self.collections.collections, len(paths), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        async def submit_to(name: str) -> None:
            self._submit(paths, name)

        async def select_and_submit(name: str) -> None:
            if await self.collections.select(name):
                self._submit(paths, name)

        def on_accepted() -> None:
            if dialog.wants_new:
                self.collections.ask_create(then=submit_to)
            elif (name := dialog.chosen()) is not None:
                self.tasks.spawn(select_and_submit(name))

        dialog.accepted.connect(on_accepted)
        dialog.destroyed.connect(lambda: setattr(self, "choose_dialog", None))
        self.choose_dialog = dialog
        dialog.open()
        return dialog

    def _add_waiting_paths(self) -> None:
        paths, self._waiting_paths = self._waiting_paths, []
        if paths:
            self.add_paths(paths)

    def add_folder(self) -> None:
        folder = self.pick_folder()
        if folder is not None:
            self.add_paths([folder])

    def _submit(self, paths: list[Path], name: str) -> Job | None:
        if self._shut_down:
            return None
        job = self.queue.submit(paths, name)
        what = paths[0].name if len(paths) == 1 else f"{len(paths)} items"
        self.show_message(f"Adding {what} to {name}")
        return job

    def _pick_folder(self) -> Path | None:
        start = str(self.window_state.value("last_folder", str(Path.home())))
        chosen = QFileDialog.getExistingDirectory(self, "Add folder", start)
        if not chosen:
            return None
        self.window_state.setValue("last_folder", chosen)
        return Path(chosen)

    # drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        plan = plan_drop(event.mimeData())
        if not plan.accepted:
            event.ignore()
            return
        event.acceptProposedAction()
        target = self.collections.active
        what = f"{len(plan.accepted)} items" if len(plan.accepted) > 1 else plan.accepted[0].name
        where = f"to {target}" if target else "then choose its collection"
        self.overlay.show_for(f"Drop to add {what}\n{where}")

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.overlay.hide()

    def dropEvent(self, event: QDropEvent) -> None:
        self.overlay.hide()
        plan = plan_drop(event.mimeData())
        if not plan.accepted:
            event.ignore()
            return
        event.acceptProposedAction()
        if plan.refused:
            self.show_message(
                f"Ignored {len(plan.refused)} item(s) that are neither folders nor images"
            )
        self.add_paths(plan.accepted)

    # settings, about ------------------------------------------------------------------------
    def open_settings(self) -> None:
        """Open the settings dialog (after asking, off the UI thread, whether a keyring works)."""
        self.tasks.spawn(self._open_settings())

    async def _open_settings(self) -> SettingsDialog:
        keyring = await self.tasks.run(settings_dialog.keyring_status)
        dialog = SettingsDialog(self.services.settings, keyring, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.tasks.spawn(self.apply_settings(dialog.edited())))
        dialog.destroyed.connect(lambda: setattr(self, "settings_dialog", None))
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    async def apply_settings(self, edited: dict[str, Any]) -> Settings | None:
        """Persist edited values; apply those that need no restart; say which do."""
        if not edited:
            return self.services.settings
        try:
            saved = await self.tasks.run(save_user_settings, self.services.settings, edited)
        except Exception as exc:  # a ConfigError or a file that cannot be written
            self.show_error(f"Could not save the settings: {exc}")
            return None
        self.services.settings = saved.settings
        if saved.unsaved_keys:
            self.show_error(
                "No keyring could keep the API key; set "
                + " and ".join(saved.unsaved_keys) + " in the environment instead."
            )
        restart = sorted(set(edited) & RESTART_FIELDS)
        note = " — the ML service and Qdrant changes take effect after a restart" if restart else ""
        self.show_message("Settings saved" + note, 15_000)
        return saved.settings

    def about_text(self) -> str:
        return about_html(self.services.settings)

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", self.about_text())

    def open_log_folder(self) -> None:
        if not open_log_folder(self.services.settings.log_dir):
            self.show_message(f"Logs are in {self.services.settings.log_dir}", 15_000)

    # feedback -------------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        log.warning("%s", text)
        dialogs.show_error(self, APP_NAME, text)

    def show_message(self, text: str, timeout_ms: int = 8000) -> None:
        if not self._shut_down:  # a late signal must not start the message's timer again
            self.statusBar().showMessage(text, timeout_ms)

    def _on_job_finished(self, job: Job) -> None:
        c = job.counters
        if job.state is JobState.FAILED:
            self.show_message(f"Job on {job.collection} failed: {job.message}", 15_000)
        else:
            self.show_message(
                f"Job on {job.collection} {job.state.value}: {c.ingested:,} ingested, "
                f"{c.cached:,} cached, {c.unchanged:,} unchanged, {c.failed:,} failed"
            )
        if not self._shut_down:
            self.tasks.spawn(self.collections.refresh())  # new point counts

    def _on_active_changed(self, name: str | None) -> None:
        self.active_label.setText(
            f"Collection: <b>{name}</b>" if name else "No active collection"
        )
        self._refresh_ml_label()

    def _on_qdrant_checked(self, health: Health) -> None:
        self.qdrant_label.show_health(health, self.services.store.where)

    def _refresh_ml_label(self) -> None:
        if self.health.ml is None:
            return
        rows = {r.name: r for r in self.collections.collections}
        active = rows.get(self.collections.active or "")
        backend = (active.backend if active else None) or self.services.settings.backend
        self.ml_label.show_health(self.health.ml, self.services.settings.ml_url, backend == "http")

    # window state ---------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = self.window_state.value("geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1100, 700)
        splitter = self.window_state.value("splitter")
        if splitter is None or not self.splitter.restoreState(splitter):
            self.splitter.setSizes([440, 660])

    def _save_state(self) -> None:
        self.window_state.setValue("geometry", self.saveGeometry())
        self.window_state.setValue("splitter", self.splitter.saveState())
        self.window_state.sync()

