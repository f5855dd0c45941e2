"""Small persisted application state (the active collection), kept apart from settings."""

from __future__ import annotations

from pathlib import Path

from ingest_gui.core.settings import STATE_FILE, read_json, write_json_atomic


def get_active_collection(data_dir: Path) -> str | None:
    """The collection selected last, if any."""
    value = read_json(data_dir / STATE_FILE).get("active_collection")
    return value if isinstance(value, str) and value else None


def set_active_collection(data_dir: Path, name: str | None) -> None:
    """Remember the selected collection between runs (None forgets it)."""
    state = read_json(data_dir / STATE_FILE)
    state["active_collection"] = name
    write_json_atomic(data_dir / STATE_FILE, state)
