#!/usr/bin/env bash
# CI, packaging part (called by .ci/run after the test suite, inside its virtual env):
# build the bundle from this clone, pack it, unpack and install it elsewhere, and prove
# that the built executable - not the source tree - works in a clean environment:
# --version, --self-test offscreen and under Xvfb (real X11 libraries), an ingest of JPEG
# and HEIC photos. Prints the bundle and archive sizes and the start-up times; a size
# over its budget is flagged OVER, never a failure (bench/bench_bundle.py --check-sizes
# would make sizes a gate).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
APP_ID=io.github.ingest_gui.IngestGui
PHOTOS=${INGEST_GUI_PHOTOS:-$ROOT/../shared/data/photos}
started=$(date +%s)

if command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    desktop-file-utils appstream xvfb xauth xdotool >/dev/null
fi
python -m pip install -q -e '.[build]'

echo "== desktop entry and AppStream metadata"
desktop-file-validate "packaging/linux/$APP_ID.desktop"
appstreamcli validate --no-net "packaging/linux/$APP_ID.metainfo.xml"

echo "== build the bundle and the archive"
rm -rf build dist
t0=$(date +%s)
pyinstaller --noconfirm --log-level WARN build_installer.spec
echo "pyinstaller took $(( $(date +%s) - t0 )) s"
archive=$(packaging/make_archive.sh dist | tail -n 1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
home="$work/home"
mkdir -p "$home" "$work/elsewhere"

echo "== unpack and install into a fresh HOME"
tar -C "$work" -xzf "$archive"
env -i HOME="$home" PATH=/usr/bin:/bin sh "$work"/ingest-gui-*/install.sh
exe="$home/.local/bin/ingest-gui"

# Nothing from this shell leaks in: no venv, no PYTHONPATH, another working directory.
clean() { (cd "$work/elsewhere" && env -i HOME="$home" PATH=/usr/bin:/bin "$@"); }

check_report() {  # check_report FILE PLATFORM: every check ok, Qt on that platform
  python - "$1" "$2" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for check in report["checks"]:
    print(f"  {check['status']:6} {check['name']:16} {check['seconds']:6.2f} s  {check['reason']}")
qt = next(c for c in report["checks"] if c["name"] == "qt")
assert report["ok"] and report["frozen"], "the bundle's self-test failed"
assert f"platform {sys.argv[2]}" in qt["reason"], qt["reason"]
PY
}

echo "== --version"
clean QT_QPA_PLATFORM=offscreen timeout 30 "$exe" --version

echo "== --self-test, offscreen"
clean QT_QPA_PLATFORM=offscreen timeout 120 "$exe" --self-test > "$work/offscreen.json"
check_report "$work/offscreen.json" offscreen

echo "== --self-test under Xvfb (the xcb plugin and the system's X11 libraries)"
(cd "$work/elsewhere" && xvfb-run -a sh -c \
  'exec env -i HOME="$1" PATH=/usr/bin:/bin DISPLAY="$DISPLAY" XAUTHORITY="$XAUTHORITY" timeout 120 "$2" --self-test' \
  sh "$home" "$exe") > "$work/xvfb.json"
check_report "$work/xvfb.json" xcb

echo "== ingest JPEG and HEIC photos with the installed executable"
mkdir -p "$work/photos"
cp "$PHOTOS"/jpg/*.jpg "$PHOTOS"/jpg/gps/*.jpg "$PHOTOS"/heic/* "$work/photos/"
chmod -R u+w "$work/photos"
expected=$(find "$work/photos" -type f | wc -l)
clean timeout 300 "$exe" ingest "$work/photos" --collection x --create --json > "$work/ingest.json"
python - "$work/ingest.json" "$expected" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
print(f"  {summary['status']}: {summary['ingested']} of {summary['total_files']} ingested, {summary['failed']} failed")
assert summary["status"] == "completed" and summary["failed"] == 0, summary["errors"]
assert summary["ingested"] == int(sys.argv[2])
PY
clean timeout 60 "$exe" search --collection x --image "$work/photos/samplefilehub.heif" --limit 1

echo "== uninstall"
env -i HOME="$home" PATH=/usr/bin:/bin sh "$home/.local/lib/ingest-gui/uninstall.sh"
test ! -e "$exe" && test ! -e "$home/.local/share/applications/$APP_ID.desktop"

echo "== figures (budgets: bundle 230 MB, archive 100 MB, --version 0.5 s, window 2 s, --self-test 5 s)"
python bench/bench_bundle.py --bundle dist/ingest-gui --archive "$archive" --runs 3
echo "packaging CI took $(( $(date +%s) - started )) s"
