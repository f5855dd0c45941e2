"""The collections panel: list with point counts and models; create, delete, select, clear cache.

Every manager call runs on the pool through `Tasks.run`; the panel only shows results.
Selecting a row makes that collection the active one (remembered by the core).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ingest_gui.core.errors import IngestError
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.reasons import describe_error
from ingest_gui.core.store import CollectionInfo
from ingest_gui.ui import dialogs
from ingest_gui.ui import format as fmt
from ingest_gui.ui.dialogs import CreateCollectionDialog, NewCollection
from ingest_gui.ui.tasks import Tasks

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex


class CollectionsModel(QAbstractTableModel):
    """Rows of CollectionInfo; the active one is bold."""

    HEADERS = ("Collection", "Points", "Model", "Vectors")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[CollectionInfo] = []
        self.active: str | None = None

    def set_rows(self, rows: list[CollectionInfo], active: str | None) -> None:
        self.beginResetModel()
        self.rows, self.active = list(rows), active
        self.endResetModel()

    def set_active(self, name: str | None) -> None:
        self.active = name
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 3))

    def row_of(self, name: str | None) -> int:
        return next((i for i, r in enumerate(self.rows) if r.name == name), -1)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: _Index, role: int = 0) -> Any:
        if not index.isValid():
            return None
        info, col = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                ("● " if info.name == self.active else "") + info.name,
                fmt.count(info.points),
                info.model or f"{info.backend or '?'} (not used yet)",
                f"{info.vector_size} · {info.distance}",
            )[col]
        if role == Qt.ItemDataRole.FontRole and info.name == self.active:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{info.name}\n{fmt.count(info.points)} points\nbackend: {info.backend}\n"
                f"model: {info.model or 'set on first ingest'}\n"
                f"vectors: {info.vector_size}, {info.distance}\ncreated: {info.created_at or '?'}"
            )
        return None


class CollectionsPanel(QWidget):
    """Lists collections and runs the collection operations off the UI thread."""

    listed = Signal(list)  # list[CollectionInfo], after every refresh
    active_changed = Signal(object)  # str | None
    error = Signal(str)  # a readable reason; the window shows it
    message = Signal(str)  # a short status line
    created = Signal(str)  # the name of a collection just created

    def __init__(
        self,
        manager: CollectionManager,
        tasks: Tasks,
        busy: Callable[[], set[str]] = set,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.tasks = tasks
        self.busy = busy  # collections a job is writing to
        # Injectable so tests can answer the modal question (a stand-in for a click).
        self.confirm: Callable[[QWidget | None, str, str, str], bool] = dialogs.confirm
        self.create_dialog: CreateCollectionDialog | None = None
        self.model = CollectionsModel()
        self.loaded = False  # the first listing has arrived
        self._syncing = False

        title = QLabel("Collections")
        title.setObjectName("panelTitle")
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.empty = QLabel("No collections yet. Create one to start.")
        self.empty.setObjectName("note")

        self.new_button = QPushButton("New…")
        self.new_button.setToolTip("Create a collection")
        self.new_button.clicked.connect(lambda: self.ask_create())
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the selected collection and its points")
        self.delete_button.clicked.connect(self.ask_delete)
        self.clear_button = QPushButton("Clear cache…")
        self.clear_button.setToolTip(
            "Forget the active collection's cached results, so its images are embedded again"
        )
        self.clear_button.clicked.connect(self.ask_clear_cache)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda: self.tasks.spawn(self.refresh()))
        buttons = QHBoxLayout()
        for b in (self.new_button, self.delete_button, self.clear_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        layout.addLayout(buttons)
        self._update_buttons()

    # what the rest of the window reads -------------------------------------------------
    @property
    def collections(self) -> list[CollectionInfo]:
        return list(self.model.rows)

    @property
    def active(self) -> str | None:
        return self.model.active

    def names(self) -> list[str]:
        return [r.name for r in self.model.rows]

    # operations (coroutines; each returns after the list shows the result) --------------
    async def refresh(self) -> bool:
        """Reload the list and the active collection; False if the store could not tell."""
        try:
            rows, active = await self.tasks.run(self._load)
        except IngestError as exc:
            self.error.emit(f"Could not list collections: {exc}")
            return False
        self.show_collections(rows, active)
        return True

    async def create_collection(self, new: NewCollection, select: bool = True) -> bool:
        """Create a collection (and make it active); False with an error shown if refused."""
        try:
            await self.tasks.run(
                self.manager.create, new.name, new.vector_size, new.distance, new.backend
            )
        except IngestError as exc:
            self.error.emit(f"Could not create {new.name!r}: {exc}")
            return False
        self.message.emit(f"Created collection {new.name}")
        if select:
            await self.select(new.name)
        else:
            await self.refresh()
        self.created.emit(new.name)
        return True

    async def select(self, name: str) -> bool:
        """Make a collection the active one (remembered between runs)."""
        try:
            await self.tasks.run(self.manager.select, name)
        except IngestError as exc:
            self.error.emit(f"Could not select {name!r}: {exc}")
            await self.refresh()
            return False
        self._set_active(name)
        return await self.refresh()

    async def delete_collection(self, name: str) -> bool:
        try:
            await self.tasks.run(self.manager.delete, name)
        except IngestError as exc:
            self.error.emit(f"Could not delete {name!r}: {exc}")
            await self.refresh()
            return False
        self.message.emit(f"Deleted collection {name}")
        await self.refresh()
        return True

    async def clear_cache(self, name: str) -> int | None:
        try:
            removed = await self.tasks.run(self.manager.clear_cache, name)
        except IngestError as exc:
            self.error.emit(f"Could not clear the cache of {name!r}: {exc}")
            return None
        self.message.emit(f"Cleared {fmt.count(removed)} cached results of {name}")
        return int(removed)

    # slots behind the buttons (plain functions: dialogs never run inside a coroutine) ---
    def ask_create(
        self, then: Callable[[str], Awaitable[object]] | None = None
    ) -> CreateCollectionDialog:
        """Open the create dialog; on accept, create the collection, make it active, `then`."""
        dialog = CreateCollectionDialog(self.manager.services.settings, self.names(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        async def create_then(new: NewCollection) -> None:
            if await self.create_collection(new) and then is not None:
                await then(new.name)

        dialog.accepted.connect(lambda: self.tasks.spawn(create_then(dialog.values())))
        self.create_dialog = dialog
        dialog.destroyed.connect(lambda: setattr(self, "create_dialog", None))
        dialog.open()
        return dialog

    def ask_delete(self) -> None:
        name = self.active
        if name is None:
            return
        if name in self.busy():
            self.error.emit(f"A job is adding images to {name!r}: cancel it before deleting.")
            return
        row = self.model.row_of(name)
        if row < 0:
            return
        info = self.model.rows[row]
        text = (
            f"Delete the collection {name!r} and its {fmt.count(info.points)} points?\n"
            "Cached results no other collection uses are forgotten too. This cannot be undone."
        )
        if self.confirm(self, "Delete collection", text, "Delete"):
            self.tasks.spawn(self.delete_collection(name))

    def ask_clear_cache(self) -> None:
        name = self.active
        if name is None:
            return
        text = (
            f"Forget the cached embeddings and captions of {name!r}?\n"
            "Its points stay; the next ingest of its folders embeds every image again."
        )
        if self.confirm(self, "Clear cache", text, "Clear cache"):
            self.tasks.spawn(self.clear_cache(name))

    # display ------------------------------------------------------------------------------
    def update_collections(self, rows: list[CollectionInfo]) -> None:
        """Show fresh point counts (the periodic health check lists the store anyway)."""
        self.show_collections(rows, self.model.active)

    def show_collections(self, rows: list[CollectionInfo], active: str | None) -> None:
        """Show a fresh list and the active collection."""
        if active is not None and not any(r.name == active for r in rows):
            active = None
        changed = active != self.model.active
        self._syncing = True
        try:
            self.model.set_rows(rows, active)
            self._select_row(active)
        finally:
            self._syncing = False
        self._update_buttons()
        self.loaded = True
        self.listed.emit(list(rows))
        if changed:
            self.active_changed.emit(active)

    def _set_active(self, name: str | None) -> None:
        if name == self.model.active:
            return
        self.model.set_active(name)
        self._syncing = True
        try:
            self._select_row(name)
        finally:
            self._syncing = False
        self._update_buttons()
        self.active_changed.emit(name)

    def _select_row(self, name: str | None) -> None:
        row = self.model.row_of(name)
        sel = self.table.selectionModel()
        if row < 0:
            sel.clearSelection()
            return
        sel.setCurrentIndex(
            self.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        name = self.model.rows[current.row()].name
        if name != self.model.active:
            self.tasks.spawn(self.select(name))

    def _update_buttons(self) -> None:
        has_active = self.active is not None
        self.delete_button.setEnabled(has_active)
        self.clear_button.setEnabled(has_active)
        self.empty.setVisible(not self.model.rows)

    def _load(self) -> tuple[list[CollectionInfo], str | None]:
        # On the pool: both reads touch the store or the data folder.
        try:
            return self.manager.list(), self.manager.active()
        except IngestError:
            raise
        except Exception as exc:  # qdrant-client raises plain exceptions for some failures
            log.exception("listing collections failed")
            raise IngestError(describe_error(exc)) from exc
