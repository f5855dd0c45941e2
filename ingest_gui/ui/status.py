"""Health of the ML service and of Qdrant, checked at start and every 15 s without blocking."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QWidget

from ingest_gui.core.errors import IngestError
from ingest_gui.core.inference.http import HttpInferenceClient
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.reasons import describe_error
from ingest_gui.core.services import Services
from ingest_gui.core.store import CollectionInfo
from ingest_gui.ui.tasks import Tasks

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 15_000
_OK, _BAD, _IDLE = "#15803d", "#b91c1c", "#6b7280"


@dataclass(frozen=True)
class Health:
    """One service's answer to a check."""

    ok: bool
    detail: str = ""


class HealthMonitor(QObject):
    """Runs the checks as qasync coroutines; one round at a time, never piling up."""

    ml_checked = Signal(object)  # Health
    qdrant_checked = Signal(object)  # Health
    collections_listed = Signal(list)  # list[CollectionInfo] from the Qdrant check

    def __init__(
        self, services: Services, tasks: Tasks, interval_ms: int = CHECK_INTERVAL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.tasks = tasks
        self.ml: Health | None = None
        self.qdrant: Health | None = None
        self._running = False
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check_soon)

    def start(self) -> None:
        """Check now and then periodically."""
        self.check_soon()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def check_soon(self) -> None:
        if not self._running:
            self.tasks.spawn(self.check())

    async def check(self) -> None:
        """One round: the ML service over async HTTP, Qdrant on the pool."""
        self._running = True
        try:
            self.ml = await self._check_ml()
            self.ml_checked.emit(self.ml)
            self.qdrant = await self._check_qdrant()
            self.qdrant_checked.emit(self.qdrant)
        finally:
            self._running = False

    async def _check_ml(self) -> Health:
        settings = self.services.settings
        client = self.services.backend("http", settings.vector_size)
        if not isinstance(client, HttpInferenceClient):
            return Health(False, "no HTTP inference client")
        try:
            status = await client.ahealth()
        except Exception as exc:  # ahealth answers for HTTP errors; anything else still
            log.warning("ML health check failed: %s", exc)  # becomes a readable line
            return Health(False, f"unreachable: {describe_error(exc)}")
        return Health(status.ok, status.detail or ("ready" if status.ok else "not ready"))

    async def _check_qdrant(self) -> Health:
        manager = CollectionManager(self.services)
        try:
            # Listing is a cheap call that proves reads work, and it refreshes point counts.
            rows: list[CollectionInfo] = await self.tasks.run(manager.list)
        except IngestError as exc:
            return Health(False, f"unreachable: {exc}")
        except Exception as exc:  # a client bug or odd server answer: still a readable line
            log.warning("Qdrant health check failed: %s", exc)
            return Health(False, f"unreachable: {describe_error(exc)}")
        self.collections_listed.emit(rows)
        return Health(True, "ok")


class HealthLabel(QLabel):
    """'● ML service: ok' in green, or red with the reason; grey when it is not needed."""

    MAX_CHARS = 70

    def __init__(self, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.what = what
        self.health: Health | None = None
        self.needed = True
        self.setText(self._html(_IDLE, "checking…"))

    def show_health(self, health: Health, where: str, needed: bool = True) -> None:
        self.health, self.needed = health, needed
        colour = _OK if health.ok else (_BAD if needed else _IDLE)
        state = self.state_text
        # Optional service down: say so calmly; the reason stays in the tooltip.
        shown = state if health.ok or needed else f"{state.split(':')[0]} (not needed now)"
        short = shown if len(shown) <= self.MAX_CHARS else shown[: self.MAX_CHARS - 1] + "…"
        self.setText(self._html(colour, short))
        tip = f"{self.what} at {where}: {state}"
        if not health.ok and not needed:
            tip += "\n(not needed now: the active collection uses the built-in model)"
        self.setToolTip(tip)
        self.setAccessibleDescription(tip)

    @property
    def state_text(self) -> str:
        """'ok', or the reason it is not (what a test or a screen reader reads)."""
        if self.health is None:
            return "checking…"
        if self.health.ok:
            return "ok"
        detail = self.health.detail or "unreachable"
        return detail if detail.startswith(("unreachable", "not ready")) else f"error: {detail}"

    def _html(self, colour: str, state: str) -> str:
        return (
            f"<span style='color:{colour}'>●</span> {html.escape(self.what)}: "
            f"{html.escape(state)}"
        )
