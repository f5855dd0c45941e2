"""The headless front door: `ingest-gui <command>` over the same core as the window."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ingest_gui import __version__
from ingest_gui.core.errors import IngestError
from ingest_gui.core.jobs import Job, JobState, ProgressEvent
from ingest_gui.core.settings import BACKENDS, DISTANCES, load_settings

EXIT_OK, EXIT_ERROR, EXIT_CANCELLED = 0, 1, 130


def build_parser() -> argparse.ArgumentParser:
    """All commands and options; with no command the window opens."""
    p = argparse.ArgumentParser(
        prog="ingest-gui",
        description="Turn folders of photos into a searchable Qdrant vector collection.",
    )
    p.add_argument("--version", action="version", version=f"ingest-gui {__version__}")
    p.add_argument(
        "--self-test", action="store_true",
        help="check every part the app needs in a temporary folder; print a JSON report",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ing = sub.add_parser("ingest", help="ingest folders (or image files) into a collection")
    ing.add_argument("paths", nargs="+", type=Path, metavar="DIR")
    ing.add_argument("--collection", "-c", help="target collection (default: the active one)")
    ing.add_argument("--create", action="store_true", help="create the collection if missing")
    ing.add_argument("--backend", choices=BACKENDS, help="inference backend")
    ing.add_argument("--vector-size", type=int, help="vector size when creating")
    ing.add_argument("--distance", choices=DISTANCES, help="distance when creating")
    ing.add_argument("--no-caption", action="store_true", help="skip captions")
    ing.add_argument(
        "--follow-symlinks", action="store_true",
        help="also read images that symbolic links point to outside the folders",
    )
    ing.add_argument(
        "--keep-missing", action="store_true",
        help="only list files that vanished from disk instead of removing them from the collection",
    )
    _json_flag(ing)

    col = sub.add_parser("collections", help="list, create, inspect, select or delete collections")
    csub = col.add_subparsers(dest="action", metavar="ACTION", required=True)
    _json_flag(csub.add_parser("list", help="every collection with its size and model"))
    cre = csub.add_parser("create", help="create an empty collection")
    cre.add_argument("name")
    cre.add_argument("--vector-size", type=int)
    cre.add_argument("--distance", choices=DISTANCES)
    cre.add_argument("--backend", choices=BACKENDS)
    _json_flag(cre)
    for action, text in (("info", "details of one collection"), ("select", "make it active")):
        sp = csub.add_parser(action, help=text)
        sp.add_argument("name")
        _json_flag(sp)
    dele = csub.add_parser("delete", help="delete a collection and its cache entries")
    dele.add_argument("name")
    dele.add_argument("--yes", action="store_true", help="confirm the deletion")
    _json_flag(dele)

    cache = sub.add_parser("cache", help="manage the embedding cache")
    cache_sub = cache.add_subparsers(dest="action", metavar="ACTION", required=True)
    clr = cache_sub.add_parser("clear", help="forget a collection's cached results")
    clr.add_argument("--collection", "-c", required=True)
    _json_flag(clr)

    srch = sub.add_parser("search", help="search a collection by text or by an example image")
    srch.add_argument("--collection", "-c", help="collection (default: the active one)")
    what = srch.add_mutually_exclusive_group(required=True)
    what.add_argument("--text")
    what.add_argument("--image", type=Path)
    srch.add_argument("--limit", type=int, default=10)
    _json_flag(srch)
    return p


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


COMMANDS = ("ingest", "collections", "cache", "search")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    if getattr(sys, "frozen", False):
        import multiprocessing

        # In the bundle a spawned child (the store's index builder) starts this same
        # executable: it must run the child's task, not parse its arguments as commands.
        multiprocessing.freeze_support()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        return _window(argv)  # `ingest-gui FOLDER…`, as the desktop's "Open with" runs it
    args = build_parser().parse_args(argv)
    _tolerant_stdout()
    if args.self_test:
        from ingest_gui.selftest import main as self_test

        return self_test()
    if args.command is None:
        return _window([])
    try:
        settings = load_settings()
        from ingest_gui.core.logs import setup_logging

        setup_logging(settings.log_dir)
        from ingest_gui.core.services import Services

        services = Services(settings)
    except IngestError as exc:
        return _fail(str(exc))
    try:
        handler = {"ingest": _ingest, "collections": _collections, "cache": _cache,
                   "search": _search}[args.command]
        return int(handler(services, args))
    except IngestError as exc:
        return _fail(str(exc))
    finally:
        services.close()
        if getattr(args, "job_cancelled", False):
            _exit_now(EXIT_CANCELLED)


def _exit_now(code: int) -> None:
    """Exit without joining threads still waiting on a request the cancelled job abandoned."""
    if any(t.name.startswith("infer-") and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _window(paths: list[str]) -> int:
    """Open the window, or hand the paths to the one already open."""
    from ingest_gui.app import main as gui_main  # Qt only when the window is wanted

    return int(gui_main(paths))


def _tolerant_stdout() -> None:
    """Print undecodable file names as \\xNN instead of dying on them."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _fail(reason: str) -> int:
    print(f"ingest-gui: error: {reason}", file=sys.stderr)
    return EXIT_ERROR


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if args.json else text)


# ingest -----------------------------------------------------------------------------------
def _ingest(services: Any, args: argparse.Namespace) -> int:
    from ingest_gui.core.manager import CollectionManager
    from ingest_gui.core.pipeline import run_job
    from ingest_gui.core.scanning import check_roots

    manager = CollectionManager(services)
    name = args.collection or manager.active()
    if not name:
        raise IngestError("no collection given and none is active: use --collection NAME")
    check_roots(args.paths)  # before a collection is created or a job starts
    if not services.store.exists(name):
        if not args.create:
            raise IngestError(f"collection {name!r} does not exist (add --create to create it)")
        manager.create(name, args.vector_size, args.distance, args.backend)
    job = Job(
        [p.resolve() for p in args.paths], name, args.backend,
        caption=not args.no_caption, follow_symlinks=args.follow_symlinks,
        prune_missing=not args.keep_missing,
    )
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    done = threading.Event()

    def work() -> None:
        try:
            run_job(services, job, progress)
        finally:
            done.set()

    # Ctrl-C cancels the job through a handler, not KeyboardInterrupt: an interrupted
    # Thread.join() can mark a running thread as finished (CPython 3.11).
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda _s, _f: job.cancel()) if in_main else None
    try:
        threading.Thread(target=work, name=f"job-{job.id}", daemon=True).start()
        while not done.wait(0.2):
            pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if progress:
        progress.close()
    args.job_cancelled = job.cancelled
    return _report(args, job)


def _report(args: argparse.Namespace, job: Job) -> int:
    summary = job.summary()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        c = job.counters
        print(
            f"{job.state.value}: {c.total} files into {job.collection!r} — {c.ingested} ingested, "
            f"{c.cached} cached, {c.unchanged} unchanged, {c.failed} failed "
            f"in {job.elapsed_s:.1f} s"
        )
        for err in job.errors[:50]:
            print(f"  failed {err.path} [{err.stage}]: {err.reason}")
        if len(job.errors) > 50:
            print(f"  … and {len(job.errors) - 50} more (use --json for all)")
        if job.missing:
            verb = "removed from the collection" if job.removed else "still in the collection"
            print(f"  {len(job.missing)} files no longer on disk, {verb}")
    if job.state is JobState.FAILED:
        print(f"ingest-gui: error: {job.message}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_CANCELLED if job.state is JobState.CANCELLED else EXIT_OK


class _Progress:
    """A one-line progress bar on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.kind == "progress" and now - self.last < 0.1:
            return
        self.last = now
        c = event.counters
        filled = int(30 * c.fraction)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {c.done}/{c.total}  "
            f"new {c.ingested}  cached {c.cached}  unchanged {c.unchanged}  failed {c.failed} "
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


# collections, cache, search ---------------------------------------------------------------
def _collections(services: Any, args: argparse.Namespace) -> int:
    from ingest_gui.core.manager import CollectionManager

    m = CollectionManager(services)
    if args.action == "list":
        infos = m.list()
        active = m.active()
        rows = [i.to_dict() | {"active": i.name == active} for i in infos]
        lines = [
            f"{'*' if r['active'] else ' '} {r['name']:<24} {r['points']:>8} points  "
            f"{r['vector_size']:>5} {r['distance']:<7} {r['model'] or r['backend'] or '?'}"
            for r in rows
        ] or ["no collections yet"]
        _emit(args, {"collections": rows}, "\n".join(lines))
    elif args.action == "create":
        info = m.create(args.name, args.vector_size, args.distance, args.backend)
        _emit(args, info.to_dict(), f"created {info.name} ({info.vector_size}, {info.distance})")
    elif args.action == "info":
        info = m.info(args.name)
        text = "\n".join(f"{k}: {v}" for k, v in info.to_dict().items())
        _emit(args, info.to_dict(), text)
    elif args.action == "select":
        info = m.select(args.name)
        _emit(args, info.to_dict() | {"active": True}, f"active collection: {info.name}")
    elif args.action == "delete":
        if not args.yes:
            raise IngestError(f"deleting {args.name!r} removes all its points: add --yes to confirm")
        m.delete(args.name)
        _emit(args, {"deleted": args.name}, f"deleted {args.name}")
    return EXIT_OK


def _cache(services: Any, args: argparse.Namespace) -> int:
    from ingest_gui.core.manager import CollectionManager

    removed = CollectionManager(services).clear_cache(args.collection)
    _emit(
        args,
        {"collection": args.collection, "cleared": removed},
        f"cleared {removed} cached results of {args.collection}",
    )
    return EXIT_OK


def _search(services: Any, args: argparse.Namespace) -> int:
    from ingest_gui.core.manager import CollectionManager
    from ingest_gui.core.search import search_image, search_text

    name = args.collection or CollectionManager(services).active()
    if not name:
        raise IngestError("no collection given and none is active: use --collection NAME")
    if args.text is not None:
        hits = search_text(services, name, args.text, args.limit)
    else:
        if not args.image.is_file():
            raise IngestError(f"image not found: {args.image}")
        hits = search_image(services, name, args.image, args.limit)
    rows = [
        {"id": h.id, "score": round(h.score, 4), "path": (h.payload.get("paths") or [""])[0],
         "caption": h.payload.get("caption", "")}
        for h in hits
    ]
    text = "\n".join(f"{r['score']:.3f}  {r['path']}  {r['caption']}" for r in rows) or "no matches"
    _emit(args, {"collection": name, "results": rows}, text)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
