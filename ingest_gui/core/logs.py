"""One rotating log file under the data folder, for the window and the command line alike."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_NAME = "ingest_gui.log"
_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path:
    """Send the package's logs to <log_dir>/ingest_gui.log (5 x 2 MB); returns the file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_NAME
    root = logging.getLogger("ingest_gui")
    for handler in list(root.handlers):
        if getattr(handler, "_ingest_gui", False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=5, encoding="utf-8", delay=True
    )
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._ingest_gui = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return path
