"""One rotating log file under the data folder, for the window and the command line alike."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_NAME = "ingest_gui.log"
_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path:
    """Send the package's logs and Python warnings to <log_dir>/ingest_gui.log (5 x 2 MB)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_NAME
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=5, encoding="utf-8", delay=True,
        errors="backslashreplace",  # an undecodable file name must not break logging
    )
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._ingest_gui = True  # type: ignore[attr-defined]
    # Pillow warns (corrupt EXIF, large images) through `warnings`: log it, not on stderr.
    logging.captureWarnings(True)
    for name in ("ingest_gui", "py.warnings"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if getattr(old, "_ingest_gui", False):
                logger.removeHandler(old)
                old.close()
        logger.addHandler(handler)
        logger.setLevel(level)
    logging.getLogger("py.warnings").propagate = False
    return path
