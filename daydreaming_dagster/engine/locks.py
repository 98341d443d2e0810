"""OS locks on keys, shared by every process on one data root (and by the threads of each).

One byte of one file per lock family (``<folder>/.locks``), at an offset taken from the key: a POSIX
record lock (``lockf``), which the OS releases when the holder dies (even by SIGKILL) and which
works on NFS. No lock file per key: creating one cost a file creation per call (filelock 4 made
about forty system calls per acquire, each handing the GIL to another thread at 100 calls in
flight). Two keys share a byte only if the first 60 bits of their SHA-256 match.

POSIX record locks belong to processes, not threads: two threads of one process would both get
the same byte. ``KeyLocks`` therefore also holds a thread lock per key while the OS lock is held.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCKS_FILE = ".locks"
LOCK_RETRY_S = 0.05  # after a false deadlock report (see ``KeyLocks.hold``)
# One descriptor per locks file for the life of the process: POSIX record locks belong to the
# process, and closing any descriptor of the file would drop every lock the process holds on it.
_LOCK_FDS: dict[str, int] = {}
_LOCK_FDS_GUARD = threading.Lock()


def locks_fd(folder: Path) -> int:
    """The process's one descriptor of ``<folder>/.locks`` (created when missing)."""
    path = os.path.abspath(os.path.join(folder, LOCKS_FILE))
    with _LOCK_FDS_GUARD:
        fd = _LOCK_FDS.get(path)
        # A data root deleted and made again under a long-lived process (a code server): the old
        # file is gone (no link left), so lock the new one. The old descriptor is left open on
        # purpose: closing it would drop locks other threads may still hold on it.
        if fd is None or os.fstat(fd).st_nlink == 0:
            os.makedirs(folder, exist_ok=True)
            fd = _LOCK_FDS[path] = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        return fd


def _is_hex(key: str) -> bool:
    return len(key) >= 15 and all(c in "0123456789abcdef" for c in key)


def key_offset(key: str) -> int:
    """The byte of the locks file that stands for ``key`` (a hex digest is used as is)."""
    if _is_hex(key):
        return int(key[:15], 16)
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:15], 16)


def lock_byte(fd: int, offset: int, *, blocking: bool = True) -> bool:
    """Take the OS lock on one byte; False when ``blocking`` is off and another process holds it.

    The kernel sees processes, not threads: our thread A holding one key while thread B waits for a
    key another process holds, which waits for A's, looks like a deadlock (EDEADLK). It is not one:
    A's work ends and releases its key. Wait and ask again.
    """
    assert fcntl is not None
    flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
    while True:
        try:
            fcntl.lockf(fd, flags, 1, offset)  # waits without the GIL while another process holds it
            return True
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES) and not blocking:
                return False
            if exc.errno != errno.EDEADLK:
                raise
            time.sleep(LOCK_RETRY_S)


def unlock_byte(fd: int, offset: int) -> None:
    assert fcntl is not None
    fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)


# ------------------------------------------------------------------ files that live with a process
# A spill file or a spending reservation belongs to one process: it holds the file's lock while it
# lives, and the kernel drops the lock when it dies, however it dies. Others probe the lock to tell
# a live owner from a dead one.


def create_process_file(path: Path | str) -> int:
    """Create ``path`` (it must not exist) and lock it for this process's life; returns the fd."""
    assert fcntl is not None
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def other_process_file(path: Path | str) -> Iterator[tuple[int, bool] | None]:
    """Open a file another process made with ``create_process_file``: yields ``(fd, alive)``, or
    None when the file is gone. When its owner is dead, this process holds the lock until the block
    ends, so no other process recovers the same file at the same time."""
    assert fcntl is not None
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its process is alive
            alive = True
        else:
            alive = False
        yield fd, alive
    finally:
        os.close(fd)


class KeyLocks:
    """Exclusive locks on string keys, across the threads and processes using ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._threads: dict[str, tuple[threading.Lock, int]] = {}  # key -> (lock, holders and waiters)
        self._guard = threading.Lock()

    def _thread_lock(self, key: str) -> threading.Lock:
        with self._guard:
            lock, users = self._threads.get(key, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._threads[key] = (lock, users + 1)
            return lock

    def _done_with(self, key: str) -> None:
        with self._guard:
            lock, users = self._threads[key]
            if users <= 1:
                del self._threads[key]
            else:
                self._threads[key] = (lock, users - 1)

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold ``key`` against every other thread and process; waits while another holds it."""
        thread_lock = self._thread_lock(key)
        try:
            with thread_lock:
                if fcntl is None:  # no POSIX locks (Windows): filelock's portable lock, one file per key
                    from filelock import FileLock

                    name = key if _is_hex(key) else hashlib.sha256(key.encode()).hexdigest()
                    path = self.folder / f"{name}.lock"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with FileLock(str(path), thread_local=False):
                        yield
                    return
                fd, offset = locks_fd(self.folder), key_offset(key)
                lock_byte(fd, offset)
                try:
                    yield
                finally:
                    unlock_byte(fd, offset)
        finally:
            self._done_with(key)
