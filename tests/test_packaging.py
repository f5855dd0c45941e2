"""The files that make the bundle installable: desktop entry, metainfo, icons, samples, scripts.

The install test packs a fake bundle with packaging/make_archive.sh, unpacks it elsewhere,
runs install.sh into a temporary HOME and checks every file is where the .desktop file
says; then uninstall.sh removes them and leaves the user's data alone. Building the real
bundle takes a minute and runs in packaging/ci_bundle.sh, after this suite.
"""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from ingest_gui import __version__
from ingest_gui.appinfo import APP_ID, EXECUTABLE, ICON_SIZES, icon_png, icons_dir, samples_dir

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "packaging" / "linux"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
FAKE_VERSION = "ingest-gui fake-bundle"

sys.path.insert(0, str(ROOT / "packaging"))
import trim_icu  # noqa: E402


def desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


# the files ----------------------------------------------------------------------------------
def test_desktop_entry_opens_folders_and_images() -> None:
    entry = desktop_entry(DESKTOP)
    assert entry["Exec"] == f"{EXECUTABLE} %F"
    assert entry["Icon"] == APP_ID
    mime = entry["MimeType"].rstrip(";").split(";")
    assert "inode/directory" in mime and {"image/jpeg", "image/heic"} <= set(mime)


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-utils missing")
def test_desktop_entry_validates() -> None:
    proc = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert proc.returncode == 0 and "error" not in proc.stdout, proc.stdout


def test_metainfo_names_the_app_and_this_version() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == f"{APP_ID}.desktop"
    assert root.findtext("provides/binary") == EXECUTABLE
    assert root.find("releases/release").get("version") == __version__  # type: ignore[union-attr]


@pytest.mark.skipif(not shutil.which("appstreamcli"), reason="appstream missing")
def test_metainfo_validates() -> None:
    proc = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_icons_every_size_and_the_svg_match_the_master() -> None:
    for size in ICON_SIZES:
        with Image.open(icon_png(size)) as im:
            assert im.size == (size, size) and im.mode == "RGBA"
    master = ROOT / "resources" / "icons" / f"{APP_ID}.svg"
    assert (icons_dir() / "icon.svg").read_bytes() == master.read_bytes(), (
        "run resources/icons/render_icons.py after editing the SVG"
    )


def test_samples_are_small_and_the_jpeg_keeps_its_exif() -> None:
    jpeg, heic = samples_dir() / "nikon_gps.jpg", samples_dir() / "sample.heic"
    assert jpeg.stat().st_size < 20_000 and heic.stat().st_size < 20_000
    with Image.open(jpeg) as im:
        exif = im.getexif()
    assert exif.get(0x010F) == "NIKON"  # Make
    assert exif.get_ifd(0x8825), "GPS IFD kept"


def test_spec_builds_onedir_from_the_package_version() -> None:
    spec = (ROOT / "build_installer.spec").read_text(encoding="utf-8")
    assert "VERSION = ingest_gui.__version__" in spec
    assert "exclude_binaries=True" in spec and "COLLECT(" in spec  # onedir, never onefile
    compile(spec, "build_installer.spec", "exec")


# ICU trimming -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("item", "kept"),
    [
        ("icudt73l/uprops.icu", True), ("icudt73l/ucase.icu", True), ("icudt73l/nfc.nrm", True),
        ("icudt73l/root.res", True), ("icudt73l/en.res", True), ("icudt73l/pool.res", True),
        ("icudt73l/zoneinfo64.res", True), ("icudt73l/likelySubtags.res", True),
        ("icudt73l/coll/root.res", True), ("icudt73l/coll/ucadata.icu", True),
        ("icudt73l/brkitr/char.brk", True), ("icudt73l/de.res", False),
        ("icudt73l/coll/de.res", False), ("icudt73l/zone/fr_CA.res", False),
        ("icudt73l/brkitr/cjdict.dict", False), ("icudt73l/ibm-1252_P100-2000.cnv", False),
        ("icudt73l/translit/root.res", False), ("icudt73l/rbnf/en.res", False),
    ],
)
def test_icu_trim_keeps_what_qt_uses(item: str, kept: bool) -> None:
    assert trim_icu.keep(item) is kept


def test_icu_package_round_trip() -> None:
    header = bytearray(32)
    header[0:4] = b"\x20\x00\xda\x27"
    header[12:16] = b"CmnD"
    items = [("icudt73l/a.res", b"A" * 5), ("icudt73l/b.icu", b"B" * 40), ("icudt73l/c.nrm", b"")]
    blob = trim_icu.join_package(bytes(header), items)
    head, back = trim_icu.split_package(blob)
    assert head == bytes(header)
    assert [(n, d.rstrip(b"\0")) for n, d in back] == items


def _qt_icu_lib() -> Path | None:
    import PySide6

    found = sorted((Path(PySide6.__file__).parent / "Qt" / "lib").glob("libicudata.so.*"))
    return found[0] if found and sys.platform.startswith("linux") else None


@pytest.mark.skipif(_qt_icu_lib() is None or not shutil.which("cc"), reason="needs Qt's ICU and cc")
def test_trimmed_icu_serves_qt(tmp_path: Path) -> None:
    lib = _qt_icu_lib()
    assert lib is not None
    before, after = trim_icu.trim(lib, tmp_path / lib.name)
    assert after < before / 4
    probe = (
        "import functools\nfrom PySide6.QtCore import QCollator, QLocale\n"
        "c = QCollator(QLocale('de_DE'))\n"
        "print(sorted(['b', 'ä', 'a'], key=functools.cmp_to_key(c.compare)),"
        " QLocale('tr_TR').toUpper('i'))\n"
    )
    env = os.environ | {"LD_LIBRARY_PATH": str(tmp_path), "LD_DEBUG": "libs"}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert proc.stdout.strip() == "['a', 'ä', 'b'] İ", proc.stderr[-2000:]
    assert f"trying file={tmp_path / lib.name}" in proc.stderr  # the trimmed one was loaded


# archive, install, uninstall ----------------------------------------------------------------
@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """make_archive.sh over a fake bundle whose executable answers --version."""
    bundle = tmp_path / "dist" / EXECUTABLE
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "libfake.so").write_bytes(b"\0" * 64)
    exe = bundle / EXECUTABLE
    exe.write_text(f'#!/bin/sh\necho "{FAKE_VERSION} $*"\n', encoding="utf-8")
    exe.chmod(0o755)
    proc = subprocess.run([str(ROOT / "packaging" / "make_archive.sh"), str(tmp_path / "dist")],
                          capture_output=True, text=True, check=True)
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.name == f"{EXECUTABLE}-{__version__}-linux-{os.uname().machine}.tar.gz"
    return path


@pytest.fixture
def unpacked(archive: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "downloads"
    dest.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="tar")
    [folder] = list(dest.iterdir())
    return folder


def sh(script: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A script with a clean environment and the given HOME, as a user would run it."""
    return subprocess.run(
        ["sh", str(script), *args], env={"HOME": str(home), "PATH": "/usr/bin:/bin", **env},
        cwd=home, capture_output=True, text=True, check=True, timeout=120,
    )


def test_archive_holds_bundle_scripts_and_desktop_files(unpacked: Path) -> None:
    assert (unpacked / EXECUTABLE / EXECUTABLE).stat().st_mode & 0o111
    assert (unpacked / "install.sh").stat().st_mode & 0o111
    share = unpacked / "share"
    assert (share / "applications" / f"{APP_ID}.desktop").read_bytes() == DESKTOP.read_bytes()
    assert (share / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    for size in ICON_SIZES:
        assert (share / f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png").is_file()
    assert (share / f"icons/hicolor/scalable/apps/{APP_ID}.svg").is_file()


def test_install_puts_files_where_the_desktop_file_says(unpacked: Path, tmp_path: Path) -> None:
    home = tmp_path / "home of a user"  # a space, as real homes sometimes have
    data = home / ".local" / "share" / "ingest_gui"
    data.mkdir(parents=True)
    (data / "settings.json").write_text("{}", encoding="utf-8")
    out = sh(unpacked / "install.sh", home).stdout
    assert f"Installed {FAKE_VERSION} --version" in out

    desktop = home / ".local/share/applications" / f"{APP_ID}.desktop"
    entry = desktop_entry(desktop)
    exec_args = shlex.split(entry["Exec"])  # Exec quoting is a subset of shell quoting
    assert exec_args[1:] == ["%F"]
    launcher = Path(exec_args[0])
    assert launcher == home / ".local/bin" / EXECUTABLE and Path(entry["TryExec"]) == launcher
    run = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == f"{FAKE_VERSION} --version"
    assert launcher.resolve() == home / ".local/lib" / EXECUTABLE / EXECUTABLE

    icons = home / ".local/share/icons/hicolor"
    for size in ICON_SIZES:
        assert (icons / f"{size}x{size}/apps/{entry['Icon']}.png").is_file()
    assert (icons / f"scalable/apps/{entry['Icon']}.svg").is_file()
    assert (home / ".local/share/metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout

    sh(home / ".local/lib" / EXECUTABLE / "uninstall.sh", home)
    assert not launcher.exists() and not launcher.is_symlink()
    assert not desktop.exists() and not (home / ".local/lib" / EXECUTABLE).exists()
    assert not list(icons.rglob(f"{APP_ID}.*"))
    assert (data / "settings.json").read_text(encoding="utf-8") == "{}"  # the user's data stays


def test_install_honours_prefix_and_upgrades_in_place(unpacked: Path, tmp_path: Path) -> None:
    home, prefix = tmp_path / "home", tmp_path / "opt"
    home.mkdir()
    for _ in range(2):  # a second install replaces the first
        sh(unpacked / "install.sh", home, "--prefix", str(prefix))
    assert (prefix / "bin" / EXECUTABLE).resolve() == prefix / "lib" / EXECUTABLE / EXECUTABLE
    assert (prefix / "share/applications" / f"{APP_ID}.desktop").is_file()
    assert not (home / ".local").exists()
    assert sorted(p.name for p in (prefix / "lib").iterdir()) == [EXECUTABLE]
    sh(unpacked / "uninstall.sh", home, "--prefix", str(prefix))
    assert not (prefix / "lib" / EXECUTABLE).exists()
