#!/bin/sh
# Remove what install.sh installed: the bundle, the launcher, the .desktop file, the icons
# and the AppStream metadata, as listed in the bundle's install-manifest.txt.
#
#   ~/.local/lib/ingest-gui/uninstall.sh          (installed beside the bundle)
#   ./uninstall.sh [--prefix DIR]                 (from the unpacked archive)
#
# Your data folder (~/.local/share/ingest_gui: collections, cache, settings, logs) stays;
# delete it yourself if you want it gone.
set -eu

NAME=ingest-gui
HERE=$(cd "$(dirname "$0")" && pwd)

prefix="$HOME/.local"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [ -f "$HERE/install-manifest.txt" ]; then
  lib=$HERE
else
  lib="$prefix/lib/$NAME"
fi
manifest="$lib/install-manifest.txt"
if [ ! -f "$manifest" ]; then
  echo "uninstall.sh: nothing installed at $lib (no install-manifest.txt)" >&2
  exit 1
fi

launcher=$(head -n 1 "$manifest")
# Only our own link: a launcher someone else put there is left alone.
if [ -L "$launcher" ] && [ "$(readlink "$launcher")" = "$lib/$NAME" ]; then
  rm -f "$launcher"
fi
tail -n +2 "$manifest" | while IFS= read -r file; do
  [ -z "$file" ] || rm -f "$file"
done
desktop=$(grep '/applications/.*\.desktop$' "$manifest" | head -n 1 || true)
if [ -n "$desktop" ] && command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$(dirname "$desktop")" 2>/dev/null || true
fi
case "$lib" in
  */lib/"$NAME") rm -rf "$lib" ;;
  *) echo "uninstall.sh: refusing to delete unexpected folder $lib" >&2; exit 1 ;;
esac
echo "Removed ingest-gui from $lib (your data folder is kept)"
