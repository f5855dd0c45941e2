#!/bin/sh
# Pack the built bundle (dist/ingest-gui/) with its install scripts and desktop files:
#
#   packaging/make_archive.sh [DIST_DIR]     -> DIST_DIR/ingest-gui-<version>-linux-<arch>.tar.gz
#
# Run after `pyinstaller build_installer.spec`. The archive unpacks into one folder:
#   ingest-gui/            the bundle (its ingest-gui runs the window and every command)
#   install.sh             puts the launcher, .desktop file and icons into ~/.local
#   uninstall.sh           removes them again
#   share/                 the .desktop file, AppStream metainfo and hicolor icons
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIST=$(cd "${1:-$ROOT/dist}" && pwd)
APP_ID=io.github.ingest_gui.IngestGui
NAME=ingest-gui

version=$(sed -n 's/^__version__ *= *"\([^"]*\)".*/\1/p' "$ROOT/ingest_gui/__init__.py")
arch=$(uname -m)
base="$NAME-$version-linux-$arch"
stage="$DIST/$base"
archive="$DIST/$base.tar.gz"

if [ ! -x "$DIST/$NAME/$NAME" ]; then
  echo "make_archive.sh: no bundle at $DIST/$NAME (run pyinstaller build_installer.spec)" >&2
  exit 1
fi

rm -rf "$stage" "$archive"
mkdir -p "$stage/share/applications" "$stage/share/metainfo"
cp -R "$DIST/$NAME" "$stage/$NAME"
cp "$ROOT/packaging/install.sh" "$ROOT/packaging/uninstall.sh" "$stage/"
chmod 755 "$stage/install.sh" "$stage/uninstall.sh"
cp "$ROOT/packaging/linux/$APP_ID.desktop" "$stage/share/applications/"
cp "$ROOT/packaging/linux/$APP_ID.metainfo.xml" "$stage/share/metainfo/"
for png in "$ROOT"/ingest_gui/resources/icons/*.png; do
  size=$(basename "$png" .png)
  mkdir -p "$stage/share/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$stage/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
mkdir -p "$stage/share/icons/hicolor/scalable/apps"
cp "$ROOT/ingest_gui/resources/icons/icon.svg" "$stage/share/icons/hicolor/scalable/apps/$APP_ID.svg"
cat > "$stage/README.txt" <<TXT
ingest-gui $version for Linux ($arch)

Install for your user (no root needed):   ./install.sh
Then start "Ingest GUI" from the applications menu, or run:   ingest-gui --help
Uninstall:                                 ~/.local/lib/ingest-gui/uninstall.sh

Or run it in place without installing:    ./ingest-gui/ingest-gui
Check that everything works:               ./ingest-gui/ingest-gui --self-test
TXT

# gzip -9 saves a few MB over the default on the shared libraries; tar stores the
# symbolic links inside the bundle as links.
tar -C "$DIST" -cf - "$base" | gzip -9 > "$archive"
rm -rf "$stage"
echo "$archive"
