#!/bin/sh
# Install the ingest-gui bundle for the current user (no root needed), from an unpacked
# release archive:
#
#   ./install.sh [--prefix DIR]        default prefix: ~/.local
#
#   DIR/lib/ingest-gui/            the bundle (replaced on upgrade)
#   DIR/bin/ingest-gui             the launcher (a symbolic link into the bundle)
#   $XDG_DATA_HOME/applications/   the .desktop file ("Open with" for folders and images)
#   $XDG_DATA_HOME/icons/hicolor/  the icons (16-512 px PNG and SVG)
#   $XDG_DATA_HOME/metainfo/       the AppStream metadata (software centres)
#
# XDG_DATA_HOME defaults to DIR/share. Your photos, collections and settings live in the
# app's data folder (~/.local/share/ingest_gui), which neither this script nor
# uninstall.sh touches.
set -eu

APP_ID=io.github.ingest_gui.IngestGui
NAME=ingest-gui
HERE=$(cd "$(dirname "$0")" && pwd)

prefix="$HOME/.local"
share=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; share="$2/share"; shift 2 ;;
    --prefix=*) prefix=${1#*=}; share="$prefix/share"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$share" ] || share="${XDG_DATA_HOME:-$prefix/share}"

bundle_src="$HERE/$NAME"
if [ ! -x "$bundle_src/$NAME" ]; then
  echo "install.sh: no bundle at $bundle_src (run it from the unpacked archive)" >&2
  exit 1
fi

lib="$prefix/lib/$NAME"
bin="$prefix/bin"
launcher="$bin/$NAME"
manifest="$lib/install-manifest.txt"

# The bundle: copied beside the old one, then swapped, so a failed copy leaves the old.
mkdir -p "$prefix/lib" "$bin"
rm -rf "$lib.new"
cp -R "$bundle_src" "$lib.new"
cp "$HERE/uninstall.sh" "$lib.new/uninstall.sh"
rm -rf "$lib.old"
[ ! -e "$lib" ] || mv "$lib" "$lib.old"
mv "$lib.new" "$lib"
rm -rf "$lib.old"
ln -sfn "$lib/$NAME" "$launcher"

# Desktop Entry Exec values quote arguments with double quotes, escaping " ` $ and \.
quote_exec() {
  printf '"%s"' "$(printf '%s' "$1" | sed -e 's/[\\"`$]/\\&/g')"
}

installed=""
put() {  # put SOURCE DEST: copy one file, remember it for uninstall.sh
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2"
  installed="$installed$2
"
}

desktop="$share/applications/$APP_ID.desktop"
mkdir -p "$(dirname "$desktop")"
exec_line="Exec=$(quote_exec "$launcher") %F"
sed -e "s|^Exec=.*|$(printf '%s' "$exec_line" | sed -e 's/[|&\\]/\\&/g')|" \
    -e "s|^TryExec=.*|TryExec=$(printf '%s' "$launcher" | sed -e 's/[|&\\]/\\&/g')|" \
    "$HERE/share/applications/$APP_ID.desktop" > "$desktop"
installed="$installed$desktop
"
put "$HERE/share/metainfo/$APP_ID.metainfo.xml" "$share/metainfo/$APP_ID.metainfo.xml"
for icon in "$HERE"/share/icons/hicolor/*/apps/*; do
  rel=${icon#"$HERE/share/"}
  put "$icon" "$share/$rel"
done

printf '%s\n%s' "$launcher" "$installed" > "$manifest"

# Menus and icon caches pick the new files up without a log-out (where the tools exist).
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$share/applications" 2>/dev/null || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t -f "$share/icons/hicolor" 2>/dev/null || true
fi

echo "Installed $("$launcher" --version 2>/dev/null || echo "$NAME") into $lib"
echo "  launcher:     $launcher"
echo "  desktop file: $desktop"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "  note: $bin is not on your PATH; add it to run '$NAME' from a terminal" ;;
esac
echo "Uninstall with: $lib/uninstall.sh"
