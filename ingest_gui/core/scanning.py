"""Finding images under folders: recursive, case-insensitive, symlinks kept inside the folder."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest_gui.core.errors import IngestError
from ingest_gui.core.reasons import describe_error

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".heic", ".heif"}
)
# Magic numbers for files without an extension (cameras and phones export these too).
_MAGIC: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"II*\x00"),
    (0, b"MM\x00*"),
    (0, b"GIF8"),
    (0, b"BM"),
    (8, b"WEBP"),
    (4, b"ftypheic"),
    (4, b"ftypheix"),
    (4, b"ftypmif1"),
    (4, b"ftypmsf1"),
)


@dataclass(frozen=True)
class ScanEntry:
    """A file found by the scan; `problem` says why it cannot be ingested, if it cannot."""

    path: Path
    problem: str | None = None


def is_image_name(name: str) -> bool:
    """True for a file name with an image extension, in any case."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def looks_like_image(path: Path) -> bool:
    """Sniff the first bytes of a file that has no extension."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return any(head[off : off + len(sig)] == sig for off, sig in _MAGIC)


def display_path(path: str | os.PathLike[str]) -> str:
    """The path as valid UTF-8 text: undecodable bytes of a file name shown as \\xNN."""
    text = os.fspath(path)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that did not come from a byte (Windows)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def check_roots(roots: Iterable[Path]) -> None:
    """Refuse, before a job starts, a path that is missing, unreadable, or a file but no image."""
    for root in roots:
        root = Path(root)
        shown = display_path(root)
        if not root.exists():
            raise IngestError(f"folder not found: {shown}")
        if root.is_dir():
            try:
                with os.scandir(root):
                    pass
            except OSError as exc:
                raise IngestError(f"cannot open folder {shown}: {_why(exc)}") from None
        elif not (root.is_file() and (is_image_name(root.name) or looks_like_image(root))):
            raise IngestError(f"not a folder: {shown} is a file, and not an image")


def scan_paths(
    roots: Iterable[Path], skip_dirs: Iterable[Path] = (), follow_outside: bool = False
) -> Iterator[ScanEntry]:
    """Yield every image under the given folders (or the given image files), each once."""
    skip = {_real(p) for p in skip_dirs}
    seen_files: set[str] = set()
    for root in roots:
        root = Path(root)
        if root.is_file():
            entry = _file_entry(root, root.parent, follow_outside=True)
            if entry is not None and _first_time(entry, seen_files):
                yield entry
            continue
        real_root = _real(root)
        visited = {real_root}
        for entry in _walk(root, real_root, skip, visited, follow_outside):
            if _first_time(entry, seen_files):
                yield entry


def _first_time(entry: ScanEntry, seen: set[str]) -> bool:
    key = str(entry.path)
    if key in seen:
        return False
    seen.add(key)
    return True


def _walk(
    folder: Path, real_root: str, skip: set[str], visited: set[str], follow_outside: bool
) -> Iterator[ScanEntry]:
    try:
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        # Reported as a failure, not skipped quietly: the images inside are not accounted for.
        log.warning("cannot list %s: %s", folder, exc)
        yield ScanEntry(folder, f"cannot open this folder: {_why(exc)}")
        return
    for child in children:
        path = Path(child.path)
        if child.name.startswith("."):
            continue  # hidden files and folders (.git, .thumbnails, our own dot-files)
        if child.is_symlink():
            yield from _symlink(path, real_root, skip, visited, follow_outside)
        elif child.is_dir(follow_symlinks=False):
            if _real(path) not in skip:
                yield from _walk(path, real_root, skip, visited, follow_outside)
        elif not child.is_file(follow_symlinks=False):
            # A pipe, socket or device: opening a FIFO would block the job for ever.
            if is_image_name(child.name):
                yield ScanEntry(path, "not a regular file (a pipe, socket or device)")
        else:
            entry = _file_entry(path, Path(real_root), follow_outside)
            if entry is not None:
                yield entry


def _symlink(
    path: Path, real_root: str, skip: set[str], visited: set[str], follow_outside: bool
) -> Iterator[ScanEntry]:
    try:
        target = path.resolve(strict=True)
    except (RuntimeError, OSError) as exc:
        if is_image_name(path.name):
            yield ScanEntry(path, _link_problem(exc))
        return
    inside = _is_inside(str(target), real_root)
    if target.is_dir():
        if str(target) in visited or str(target) in skip:
            return  # a link back into a folder already walked: a loop, or a second name
        if not inside and not follow_outside:
            log.info("not following %s: it points outside the folder", path)
            return
        visited.add(str(target))
        yield from _walk(path, real_root, skip, visited, follow_outside)
        return
    if not (is_image_name(path.name) or is_image_name(target.name)):
        return
    if not inside and not follow_outside:
        yield ScanEntry(path, f"symbolic link points outside the folder ({target}); not followed")
        return
    yield ScanEntry(path)


def _why(exc: OSError) -> str:
    """Why a folder cannot be listed."""
    return "permission denied" if isinstance(exc, PermissionError) else describe_error(exc)


def _link_problem(exc: BaseException) -> str:
    """Why a symbolic link cannot be resolved (Python < 3.13 raises RuntimeError on a loop)."""
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(exc, FileNotFoundError):
        return "broken symbolic link (its target does not exist)"
    return f"symbolic link cannot be followed: {describe_error(exc)}"


def _file_entry(path: Path, root: Path, follow_outside: bool) -> ScanEntry | None:
    del root, follow_outside  # plain files are inside by construction
    if is_image_name(path.name):
        return ScanEntry(path)
    if not path.suffix and looks_like_image(path):
        return ScanEntry(path)
    return None


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _is_inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)
