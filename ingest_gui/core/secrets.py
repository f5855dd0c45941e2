"""API keys kept out of plain-text files: the OS keyring where one works, else environment only.

Each secret is stored under the service name "ingest_gui" with its environment variable's
name as the user name (e.g. ML_INFERENCE_API_KEY), so a person can find it in their
keyring tool. Nothing here ever logs a secret's value.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

SERVICE = "ingest_gui"


def _backend() -> Any | None:
    """The keyring backend in use, or None when there is no usable one (fail/null backend)."""
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:  # keyring is a dependency, but a trimmed bundle may lack it
        return None
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken backend configuration must not stop the app
        log.warning("no usable keyring: %s", type(exc).__name__)
        return None
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    return backend


def keyring_usable() -> bool:
    """True when secrets can be saved in the OS keyring."""
    return _backend() is not None


def keyring_name() -> str:
    """The keyring backend's name, for the settings dialog ("none" when there is none)."""
    backend = _backend()
    return "none" if backend is None else str(getattr(backend, "name", type(backend).__name__))


def get_secret(var: str) -> str | None:
    """The secret saved for an environment variable name, or None."""
    backend = _backend()
    if backend is None:
        return None
    try:
        value = backend.get_password(SERVICE, var)
    except Exception as exc:  # locked keyring, no D-Bus, ...: act as if nothing is saved
        log.warning("cannot read %s from the keyring: %s", var, type(exc).__name__)
        return None
    return value if isinstance(value, str) and value else None


def set_secret(var: str, value: str | None) -> bool:
    """Save (or with None/"" forget) a secret; False when no usable keyring exists."""
    backend = _backend()
    if backend is None:
        return False
    try:
        if value:
            backend.set_password(SERVICE, var, value)
        elif backend.get_password(SERVICE, var) is not None:
            backend.delete_password(SERVICE, var)
    except Exception as exc:
        log.warning("cannot save %s in the keyring: %s", var, type(exc).__name__)
        return False
    return True
