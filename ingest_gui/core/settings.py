"""Typed settings: defaults as data, a user settings file, environment variables that win."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ingest_gui.core.errors import ConfigError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DISTANCES = ("Cosine", "Dot", "Euclid")
BACKENDS = ("builtin", "http")
SETTINGS_FILE = "settings.json"
STATE_FILE = "state.json"

# field name -> environment variable; the seed's names first, then ours
ENV_VARS: dict[str, str] = {
    "ml_url": "ML_INFERENCE_SERVICE_URL",
    "qdrant_host": "QDRANT_HOST",
    "qdrant_port": "QDRANT_PORT",
    "vector_size": "QDRANT_VECTOR_SIZE",
    "distance": "QDRANT_DISTANCE_METRIC",
    "ml_batch_size": "ML_INFERENCE_BATCH_SIZE",
    "upsert_batch_size": "QDRANT_UPSERT_BATCH_SIZE",
    "qdrant_url": "QDRANT_URL",
    "qdrant_api_key": "QDRANT_API_KEY",
    "ml_api_key": "ML_INFERENCE_API_KEY",
    "backend": "INGEST_GUI_BACKEND",
    "ml_max_in_flight": "ML_INFERENCE_MAX_IN_FLIGHT",
    "ml_timeout_s": "ML_INFERENCE_TIMEOUT",
}
SECRET_FIELDS = frozenset({"qdrant_api_key", "ml_api_key"})
_INT_LIMITS: dict[str, tuple[int, int]] = {
    "qdrant_port": (1, 65535),
    "vector_size": (1, 65536),
    "ml_batch_size": (1, 1024),
    "upsert_batch_size": (1, 10000),
    "ml_max_in_flight": (1, 64),
}


def default_data_dir() -> Path:
    """The platform's per-user data folder for ingest_gui."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("ingest_gui", appauthor=False))


def resolve_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """INGEST_GUI_DATA_DIR when set, else the platform default."""
    env = os.environ if env is None else env
    value = env.get("INGEST_GUI_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else default_data_dir()


@dataclass(frozen=True)
class Settings:
    """Every value the application reads; `from_env` tells where each came from."""

    data_dir: Path
    ml_url: str = "http://localhost:8001"
    ml_api_key: str | None = field(default=None, repr=False)  # never printed or logged
    ml_timeout_s: float = 120.0
    ml_max_in_flight: int = 2
    qdrant_url: str | None = None
    qdrant_host: str | None = None
    qdrant_port: int = 6333
    qdrant_api_key: str | None = field(default=None, repr=False)
    vector_size: int = 512
    distance: str = "Cosine"
    ml_batch_size: int = 8
    upsert_batch_size: int = 32
    backend: str = "builtin"
    from_env: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def qdrant_embedded(self) -> bool:
        """True unless a Qdrant server is configured."""
        return not (self.qdrant_url or self.qdrant_host)

    @property
    def qdrant_path(self) -> Path:
        """qdrant-client's local-mode folder (older data; the embedded store is edge_path)."""
        return self.data_dir / "qdrant"

    @property
    def edge_path(self) -> Path:
        """The embedded Qdrant engine's folder: one shard per collection."""
        return self.data_dir / "qdrant-edge"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def describe_qdrant(self) -> str:
        """Where vectors go, for people (never includes the API key)."""
        if self.qdrant_url:
            return self.qdrant_url
        if self.qdrant_host:
            return f"{self.qdrant_host}:{self.qdrant_port}"
        return f"embedded ({self.edge_path})"

    def with_values(self, **values: Any) -> Settings:
        """A copy with some values replaced and validated."""
        merged = {f.name: getattr(self, f.name) for f in fields(self)} | values
        return _validated(replace(self, **merged))


def user_values(settings: Settings) -> dict[str, Any]:
    """The values a settings file stores (no data_dir, no secrets)."""
    skip = {"data_dir", "from_env"} | SECRET_FIELDS
    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in skip}


def load_settings(env: Mapping[str, str] | None = None, data_dir: Path | None = None) -> Settings:
    """Defaults, the settings file, then environment variables (which win); keys: env, keyring."""
    env = os.environ if env is None else env
    root = data_dir or resolve_data_dir(env)
    values: dict[str, Any] = _read_settings_file(root / SETTINGS_FILE)
    for name in SECRET_FIELDS:
        values.pop(name, None)  # a secret is never taken from a plain-text file
    from_env: set[str] = set()
    for name, var in ENV_VARS.items():
        raw = env.get(var)
        if raw is not None and raw.strip() != "":
            values[name] = _parse(name, var, raw.strip())
            from_env.add(name)
    values.update(_keyring_secrets(from_env))
    known = {f.name for f in fields(Settings)}
    values = {k: v for k, v in values.items() if k in known and k not in ("data_dir", "from_env")}
    return _validated(Settings(data_dir=root, from_env=frozenset(from_env), **values))


def _keyring_secrets(from_env: set[str]) -> dict[str, str]:
    """The API keys the environment does not set, from the OS keyring."""
    from ingest_gui.core.secrets import get_secret

    found = {}
    for name in sorted(SECRET_FIELDS - from_env):
        value = get_secret(ENV_VARS[name])
        if value:
            found[name] = value
    return found


def save_secrets(settings: Settings) -> list[str]:
    """Save the API keys (those not set by the environment) in the OS keyring.

    Returns the environment variables that must carry the keys instead, because no usable
    keyring exists; an empty key forgets the saved one.
    """
    from ingest_gui.core.secrets import set_secret

    unsaved = []
    for name in sorted(SECRET_FIELDS - settings.from_env):
        value = getattr(settings, name)
        if not set_secret(ENV_VARS[name], value) and value:
            unsaved.append(ENV_VARS[name])
    return unsaved


def save_settings(settings: Settings) -> Path:
    """Persist the user's values (secrets excluded) atomically; returns the file."""
    path = settings.data_dir / SETTINGS_FILE
    payload = {"schema_version": SCHEMA_VERSION, "values": user_values(settings)}
    write_json_atomic(path, payload)
    return path


def write_json_atomic(path: Path, payload: object) -> None:
    """Write JSON through a private temp file and rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique temp name: two processes saving at once must not write into one temp file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object; a missing or unreadable file counts as empty (logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _read_settings_file(path: Path) -> dict[str, Any]:
    data = read_json(path)
    values = data.get("values", {})
    return dict(values) if isinstance(values, dict) else {}


def _parse(name: str, var: str, raw: str) -> Any:
    if name in _INT_LIMITS:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{var} must be a whole number, got {raw!r}") from None
    if name == "ml_timeout_s":
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{var} must be a number of seconds, got {raw!r}") from None
    return raw


def _validated(s: Settings) -> Settings:
    for name, (lo, hi) in _INT_LIMITS.items():
        value = getattr(s, name)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ConfigError(f"{_label(name)} must be a whole number from {lo} to {hi}, got {value!r}")
    canonical = {d.lower(): d for d in DISTANCES}
    if str(s.distance).lower() not in canonical:
        raise ConfigError(
            f"{_label('distance')} must be one of {', '.join(DISTANCES)}, got {s.distance!r}"
        )
    if s.backend not in BACKENDS:
        raise ConfigError(f"{_label('backend')} must be one of {', '.join(BACKENDS)}, got {s.backend!r}")
    if not s.ml_url.startswith(("http://", "https://")):
        raise ConfigError(f"{_label('ml_url')} must start with http:// or https://, got {s.ml_url!r}")
    if not isinstance(s.ml_timeout_s, (int, float)) or s.ml_timeout_s <= 0:
        raise ConfigError(f"{_label('ml_timeout_s')} must be a positive number of seconds")
    return replace(s, distance=canonical[str(s.distance).lower()])


def _label(name: str) -> str:
    return ENV_VARS.get(name, name)
