"""The settings dialog: the seed's values, persisted; environment variables shown read-only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ingest_gui.core.errors import ConfigError
from ingest_gui.core.secrets import keyring_name, keyring_usable
from ingest_gui.core.settings import (
    BACKENDS,
    DISTANCES,
    ENV_VARS,
    SECRET_FIELDS,
    Settings,
    load_settings,
    save_secrets,
    save_settings,
)

log = logging.getLogger(__name__)

SECRET_SHOWN = "********"  # stands for a saved key; clearing it forgets the key

# Read once when the services are built: a change needs a restart (the window says so).
RESTART_FIELDS = frozenset(
    {"ml_url", "ml_timeout_s", "ml_api_key", "qdrant_url", "qdrant_host", "qdrant_port",
     "qdrant_api_key"}
)


@dataclass(frozen=True)
class _Field:
    name: str
    label: str
    kind: str  # text, optional, int, float, choice, secret
    choices: tuple[str, ...] = ()
    low: float = 1
    high: float = 65536
    hint: str = ""


_GROUPS: tuple[tuple[str, tuple[_Field, ...]], ...] = (
    ("ML inference service", (
        _Field("ml_url", "URL", "text", hint="http://host:port of the CLIP/BLIP service"),
        _Field("ml_batch_size", "Batch size", "int", high=1024),
        _Field("ml_max_in_flight", "Batches in flight", "int", high=64),
        _Field("ml_timeout_s", "Time-out (seconds)", "float", low=1, high=3600),
        _Field("ml_api_key", "API key", "secret"),
    )),
    ("Vector store (Qdrant)", (
        _Field("qdrant_url", "Server URL", "optional", hint="empty: the embedded store"),
        _Field("qdrant_host", "Server host", "optional", hint="or a host and port"),
        _Field("qdrant_port", "Server port", "int", high=65535),
        _Field("qdrant_api_key", "API key", "secret"),
        _Field("upsert_batch_size", "Upsert batch size", "int", high=10000),
    )),
    ("New collections", (
        _Field("backend", "Inference backend", "choice", choices=BACKENDS),
        _Field("vector_size", "Vector size", "int"),
        _Field("distance", "Distance", "choice", choices=DISTANCES),
    )),
)


class SettingsDialog(QDialog):
    """Edits the values a settings file may hold; `edited()` is what changed."""

    def __init__(
        self, settings: Settings, keyring: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.keyring = keyring  # the usable OS keyring's name, or None
        self.editors: dict[str, QWidget] = {}
        self.notes: dict[str, str] = {}
        layout = QVBoxLayout(self)
        for title, group_fields in _GROUPS:
            box = QGroupBox(title)
            form = QFormLayout(box)
            for f in group_fields:
                editor = self._editor(f)
                self.editors[f.name] = editor
                form.addRow(f"{f.label}:", editor)
                note = self._note(f)
                if note:
                    self.notes[f.name] = note
                    label = QLabel(note)
                    label.setObjectName("note")
                    label.setWordWrap(True)
                    form.addRow("", label)
            layout.addWidget(box)
        where = QLabel(
            f"Data folder: {settings.data_dir}\n"
            "Changes to the ML service or Qdrant location take effect after a restart."
        )
        where.setObjectName("note")
        where.setWordWrap(True)
        layout.addWidget(where)
        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)

    def read_only(self, name: str) -> bool:
        """Set by an environment variable (which wins), or a key with no keyring to hold it."""
        if name in self.settings.from_env:
            return True
        return name in SECRET_FIELDS and self.keyring is None

    def edited(self) -> dict[str, Any]:
        """The editable values that differ from the current settings."""
        changed: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if self.read_only(name):
                continue
            value = _value_of(editor)
            if name in SECRET_FIELDS and value == SECRET_SHOWN:
                continue
            if isinstance(editor, QLineEdit) and value == "" and name != "ml_url":
                value = None
            if value != getattr(self.settings, name):
                changed[name] = value
        return changed

    def accept(self) -> None:
        try:
            self.settings.with_values(**self.edited())
        except ConfigError as exc:
            self.problem.setText(str(exc))
            return
        super().accept()

    def _editor(self, f: _Field) -> QWidget:
        value = getattr(self.settings, f.name)
        editor: QWidget
        if f.kind == "int":
            spin = QSpinBox()
            spin.setRange(int(f.low), int(f.high))
            spin.setValue(int(value))
            editor = spin
        elif f.kind == "float":
            dspin = QDoubleSpinBox()
            dspin.setRange(f.low, f.high)
            dspin.setDecimals(1)
            dspin.setValue(float(value))
            editor = dspin
        elif f.kind == "choice":
            combo = QComboBox()
            combo.addItems(list(f.choices))
            combo.setCurrentText(str(value))
            editor = combo
        else:
            line = QLineEdit()
            if f.kind == "secret":
                line.setEchoMode(QLineEdit.EchoMode.Password)
                line.setText(SECRET_SHOWN if value else "")
            else:
                line.setText("" if value is None else str(value))
            line.setPlaceholderText(f.hint)
            editor = line
        editor.setEnabled(not self.read_only(f.name))
        return editor

    def _note(self, f: _Field) -> str:
        var = ENV_VARS.get(f.name, "")
        if f.name in self.settings.from_env:
            return f"set by environment variable {var}"
        if f.name in SECRET_FIELDS and self.keyring is None:
            return f"no keyring on this system: set the environment variable {var}"
        if f.name in SECRET_FIELDS:
            return f"kept in the {self.keyring} keyring, never in a file"
        return ""


def _value_of(editor: QWidget) -> Any:
    if isinstance(editor, QSpinBox):
        return editor.value()
    if isinstance(editor, QDoubleSpinBox):
        return editor.value()
    if isinstance(editor, QComboBox):
        return editor.currentText()
    assert isinstance(editor, QLineEdit)
    return editor.text().strip()


def keyring_status() -> str | None:
    """The usable OS keyring's name, or None (blocking: it may ask D-Bus)."""
    return keyring_name() if keyring_usable() else None


@dataclass(frozen=True)
class Saved:
    """What saving did: the settings to use now, and keys no keyring could take."""

    settings: Settings
    unsaved_keys: list[str]


def save_user_settings(current: Settings, edited: dict[str, Any]) -> Saved:
    """Persist edits over the file's own values (never the environment's); blocking.

    API keys go to the OS keyring, the rest to the settings file; the returned settings are
    the current ones plus the edits that need no restart.
    """
    plain = {k: v for k, v in edited.items() if k not in SECRET_FIELDS}
    keys = {k: v for k, v in edited.items() if k in SECRET_FIELDS}
    if plain:
        file_only = load_settings(env={}, data_dir=current.data_dir)
        save_settings(file_only.with_values(**plain))
    unsaved = save_secrets(current.with_values(**keys)) if keys else []
    live = {k: v for k, v in plain.items() if k not in RESTART_FIELDS}
    return Saved(current.with_values(**live) if live else current, unsaved)
