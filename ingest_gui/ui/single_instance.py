"""One window per user and data folder: a second `ingest-gui FOLDER…` hands its folders over.

The running window listens on a local socket whose name holds the user id and a hash of
the data folder, so two users of one machine (or two data folders of one user) never talk
to each other's window. On Linux the socket lives in $XDG_RUNTIME_DIR (a 0700 folder of
the user's) when there is one; elsewhere Qt's UserAccessOption restricts it to the user,
and a socket file in the shared temp folder that another user owns is never talked to.

Wire format: one line of JSON, `{"v": 1, "paths": [absolute paths]}`; the window answers
`ok` once it has taken them, so the sender exits only when nothing can be lost.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QDeadlineTimer, QDir, QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ingest_gui.appinfo import EXECUTABLE

log = logging.getLogger(__name__)

PROTOCOL = 1
MAX_MESSAGE = 1 << 20  # far more paths than a command line holds; a bigger one is refused
HAND_OFF_TIMEOUT_MS = 3000
_SLICE_MS = 20


def server_name(data_dir: Path) -> str:
    """The socket name for this user and data folder."""
    digest = hashlib.sha256(str(data_dir.expanduser().absolute()).encode("utf-8"))
    name = f"{EXECUTABLE}-{_user_id()}-{digest.hexdigest()[:16]}"
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if sys.platform != "win32" and runtime and os.path.isdir(runtime):
        return os.path.join(runtime, name)
    return name


def _user_id() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    return re.sub(r"[^A-Za-z0-9_.-]", "_", getpass.getuser())  # Windows: a pipe-safe name


def encode(paths: Sequence[str | os.PathLike[str]]) -> bytes:
    """One hand-off message; paths made absolute, since the window has another cwd."""
    absolute = [str(Path(p).expanduser().absolute()) for p in paths]
    return json.dumps({"v": PROTOCOL, "paths": absolute}).encode("utf-8") + b"\n"


def decode(line: bytes) -> list[str] | None:
    """The paths of a message, or None when it is not one of ours."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("v") != PROTOCOL:
        return None
    paths = data.get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        return None
    return paths


class SingleInstance(QObject):
    """Either hands paths to the running window (`try_hand_off`) or serves (`listen`)."""

    pathsReceived = Signal(list)  # list[str] of absolute paths; may be empty ("raise me")

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.server: QLocalServer | None = None
        self._buffers: dict[QLocalSocket, bytearray] = {}  # incoming, until a full line

    @property
    def listening(self) -> bool:
        return self.server is not None and self.server.isListening()

    def try_hand_off(
        self, paths: Sequence[str | os.PathLike[str]], timeout_ms: int = HAND_OFF_TIMEOUT_MS
    ) -> bool:
        """Give paths to a running window; True once it confirmed them, False if none runs."""
        if _foreign_socket(self.name):
            log.warning("not handing paths to %s: it belongs to another user", self.name)
            return False
        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(timeout_ms):
            return False
        try:
            sock.write(encode(paths))
            if not sock.waitForBytesWritten(timeout_ms):
                return False
            return _read_answer(sock, timeout_ms).startswith(b"ok\n")
        finally:
            sock.abort()

    def listen(self) -> bool:
        """Serve hand-offs; False when another live instance already serves this name."""
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            if self._peer_alive():
                server.deleteLater()
                return False
            # A socket file left by a crashed window: nobody answers on it.
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("cannot listen on %s: %s", self.name, server.errorString())
                server.deleteLater()
                return False
        server.newConnection.connect(self._accept)
        self.server = server
        log.info("single-instance channel listening on %s", server.fullServerName())
        return True

    def close(self) -> None:
        """Stop serving (Qt removes the socket file)."""
        for sock in list(self._buffers):
            self._drop(sock)
        if self.server is not None:
            self.server.close()
            self.server.deleteLater()
            self.server = None

    def _accept(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            if sock is None:
                continue
            self._buffers[sock] = bytearray()
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(lambda s=sock: self._drop(s))
            self._read(sock)

    def _read(self, sock: QLocalSocket) -> None:
        """Buffer until a full line, answer it, close the connection."""
        buffer = self._buffers.get(sock)
        if buffer is None:
            return
        buffer += sock.readAll().data()
        if len(buffer) > MAX_MESSAGE:
            log.warning("refused an oversized hand-off message")
            self._drop(sock)
            return
        if b"\n" not in buffer:
            return
        paths = decode(bytes(buffer.split(b"\n", 1)[0]))
        sock.write(b"ok\n" if paths is not None else b"error\n")
        sock.flush()
        self._drop(sock)
        if paths is None:
            log.warning("ignored a malformed hand-off message")
            return
        log.info("another instance handed over %d path(s)", len(paths))
        # Emitted from the event loop, not from inside this socket's readyRead: a receiver
        # that spins the loop (a dialog) would otherwise delete the socket under our feet.
        QTimer.singleShot(0, self, lambda: self.pathsReceived.emit(paths))

    def _drop(self, sock: QLocalSocket) -> None:
        """Forget a connection; Qt deletes the socket once its events are done."""
        if self._buffers.pop(sock, None) is None:
            return
        sock.disconnectFromServer()  # sends what was written, then closes
        sock.deleteLater()

    def _peer_alive(self) -> bool:
        sock = QLocalSocket()
        sock.connectToServer(self.name)
        alive = sock.waitForConnected(500)
        sock.abort()
        return alive


class FileOpenEvents(QObject):
    """macOS: folders opened with the app in Finder arrive as QFileOpenEvent, not argv.

    Install on the QApplication before the window exists; events that come before anyone
    listens are kept and emitted on `release()`, once the window is ready.
    """

    pathsReceived = Signal(list)  # list[str], as SingleInstance's

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.held: list[str] | None = []  # None once released

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.FileOpen or not isinstance(event, QFileOpenEvent):
            return False
        path = event.file() or event.url().toLocalFile()
        if path:
            if self.held is not None:
                self.held.append(path)
            else:
                self.pathsReceived.emit([path])
        return True

    def release(self) -> None:
        """Emit what arrived so far; from now on each event is emitted as it comes."""
        held, self.held = self.held or [], None
        if held:
            self.pathsReceived.emit(held)


def _foreign_socket(name: str) -> bool:
    """True when the socket file exists and another user owns it (a squatter in /tmp)."""
    if sys.platform == "win32" or not hasattr(os, "getuid"):
        return False  # named pipes; UserAccessOption sets their ACL
    path = name if os.path.isabs(name) else os.path.join(QDir.tempPath(), name)
    try:
        return os.lstat(path).st_uid != os.getuid()
    except OSError:
        return False


def _read_answer(sock: QLocalSocket, timeout_ms: int) -> bytes:
    """The reply line, waiting in short slices: PySide holds the GIL inside waitFor*, and
    the window may be a thread of this same process (the self-test) that needs it."""
    deadline = QDeadlineTimer(timeout_ms)
    answer = bytearray()
    while b"\n" not in answer and not deadline.hasExpired():
        sock.waitForReadyRead(_SLICE_MS)
        answer += sock.readAll().data()
        if sock.state() is QLocalSocket.LocalSocketState.UnconnectedState:
            break
    return bytes(answer)


def claim(name: str, paths: Sequence[str | os.PathLike[str]]) -> SingleInstance | None:
    """None when a running window took `paths`; else this process's serving instance.

    Two windows started at the same moment both find no server; the loser of the race to
    listen then hands its paths to the winner instead.
    """
    instance = SingleInstance(name)
    if instance.try_hand_off(paths):
        return None
    if instance.listen():
        return instance
    if instance.try_hand_off(paths):
        return None
    log.warning("single-instance channel %s unavailable; running without it", name)
    return instance
