"""The built bundle's figures next to their budgets: sizes, and start-up times in a clean env.

    python bench/bench_bundle.py [--bundle dist/ingest-gui] [--archive dist/X.tar.gz]
                                 [--runs 3] [--check-sizes]

Sizes are on-disk bytes (du -sb), printed in MB (10^6 bytes) and MiB. Times are medians
of --runs runs, each in a clean environment (`env -i`, a new temporary HOME, started from
another folder): `--version`, `--self-test` (offscreen), and the time until the window is
mapped on a virtual X server (Xvfb + xdotool; skipped when they are missing). Figures
only: timing never fails; --check-sizes makes a size over budget exit 1 (CI uses it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {"bundle_mb": 230.0, "archive_mb": 100.0, "version_s": 0.5, "self_test_s": 5.0,
           "window_s": 2.0}
CLEAN_PATH = "/usr/bin:/bin"


def du_bytes(path: Path) -> int:
    """Bytes on disk under path, as `du -sb` counts them."""
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """Nothing from this shell but what a fresh login would have."""
    return {"HOME": str(home), "PATH": CLEAN_PATH, **extra}


def timed(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> float:
    """Wall time of one run that must succeed."""
    started = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def median_runs(runs: int, once: object) -> float:
    """Median of `runs` calls of once(home, cwd), each with a new HOME."""
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
            home, cwd = Path(tmp) / "home", Path(tmp) / "elsewhere"
            home.mkdir()
            cwd.mkdir()
            samples.append(once(home, cwd))  # type: ignore[operator]
    return statistics.median(samples)


def window_visible_s(exe: Path, display: str, home: Path, cwd: Path) -> float:
    """Seconds from exec until the app's window is mapped on `display`."""
    env = clean_env(home, DISPLAY=display)
    started = time.perf_counter()
    app = subprocess.Popen([str(exe)], env=env, cwd=cwd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Our own 20 ms polling: `xdotool search --sync` sleeps half a second between tries.
    probe = ["xdotool", "search", "--onlyvisible", "--pid", str(app.pid)]
    probe_env = {"DISPLAY": display, "PATH": CLEAN_PATH}
    try:
        while time.perf_counter() - started < 30:
            found = subprocess.run(probe, env=probe_env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            if found.returncode == 0:
                return time.perf_counter() - started
            if app.poll() is not None:
                raise RuntimeError(f"the app exited with {app.returncode} before its window showed")
            time.sleep(0.02)
        raise TimeoutError("no window within 30 s")
    finally:
        app.send_signal(signal.SIGTERM)  # the app closes its window on SIGTERM
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


def start_xvfb() -> tuple[subprocess.Popen[bytes], str] | None:
    """A private X server on a free display, or None without Xvfb/xdotool."""
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        return None
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        return None
    return server, f":{number}"


def measure(bundle: Path, archive: Path | None, runs: int) -> dict[str, float | None]:
    """Every figure; None for one that cannot be measured here."""
    exe = bundle / "ingest-gui"
    offscreen = {"QT_QPA_PLATFORM": "offscreen"}
    figures: dict[str, float | None] = {
        "bundle_mb": du_bytes(bundle) / 1e6,
        "archive_mb": archive.stat().st_size / 1e6 if archive else None,
        "version_s": median_runs(runs * 2, lambda home, cwd: timed(
            [str(exe), "--version"], clean_env(home, **offscreen), cwd, 30)),
        "self_test_s": median_runs(runs, lambda home, cwd: timed(
            [str(exe), "--self-test"], clean_env(home, **offscreen), cwd, 120)),
        "window_s": None,
    }
    xvfb = start_xvfb()
    if xvfb is not None:
        server, display = xvfb
        try:
            figures["window_s"] = median_runs(
                runs, lambda home, cwd: window_visible_s(exe, display, home, cwd))
        finally:
            server.terminate()
            server.wait()
    return figures


def report(figures: dict[str, float | None]) -> list[str]:
    """Print figure, budget and verdict per line; returns the names over budget."""
    over = []
    for name, budget in BUDGETS.items():
        value = figures.get(name)
        unit = "MB" if name.endswith("_mb") else "s"
        if value is None:
            print(f"{name:12s} {'n/a':>9s}      budget {budget:g} {unit}")
            continue
        verdict = "ok" if value <= budget else "OVER"
        if verdict == "OVER":
            over.append(name)
        extra = f"  ({value * 1e6 / 2**20:.1f} MiB)" if unit == "MB" else ""
        print(f"{name:12s} {value:9.3f} {unit:2s}   budget {budget:g} {unit}  {verdict}{extra}")
    print(json.dumps({k: None if v is None else round(v, 3) for k, v in figures.items()}))
    return over


def main(argv: list[str] | None = None) -> int:
    """Measure and print; exit 1 only for sizes over budget with --check-sizes."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, default=ROOT / "dist" / "ingest-gui")
    p.add_argument("--archive", type=Path)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--check-sizes", action="store_true")
    args = p.parse_args(argv)
    if not (args.bundle / "ingest-gui").is_file():
        print(f"no bundle at {args.bundle}: build it first", file=sys.stderr)
        return 2
    archive = args.archive or next(iter(sorted(args.bundle.parent.glob("ingest-gui-*.tar.gz"))), None)
    over = report(measure(args.bundle.resolve(), archive, args.runs))
    sizes_over = [name for name in over if name.endswith("_mb")]
    return 1 if args.check_sizes and sizes_over else 0


if __name__ == "__main__":
    raise SystemExit(main())
