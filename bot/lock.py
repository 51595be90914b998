"""One `roverbot run` per database: an exclusive lock on a file beside the database.

flock locks belong to the open file: the kernel drops them when the process ends however it ends
(SIGKILL and power loss included), so a crash never leaves a stale lock to clean up by hand.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(Exception):
    """Another roverbot holds this database; the message says which process."""


class DatabaseLock:
    def __init__(self, database: Path | str, purpose: str):
        self.path = Path(f"{database}.lock")
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> "DatabaseLock":
        from bot.store import StorageError

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # the database's folder can't be written: say so about the database
            raise StorageError(f"{self.path.with_suffix('')}: cannot write there ({e.strerror or e})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AlreadyRunning(f"{holder} is already using {self.path.with_suffix('')}; one roverbot per database "
                                 "(stop it first, or give this one its own storage.database)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"roverbot {self.purpose} (pid {os.getpid()})".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "DatabaseLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
