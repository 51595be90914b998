"""A real, throwaway PostgreSQL server for the tests.

    with PgServer() as pg:
        dsn = pg.create_database("case_1")   # postgresql://postgres@127.0.0.1:PORT/case_1

Each server gets a fresh temporary directory holding the data directory, the Unix socket and the
log; it listens on 127.0.0.1 only, at a free port, and everything is gone when the block exits.

Where the binaries come from
----------------------------
Only the PostgreSQL *server* binaries are needed (initdb and postgres); no running system
service, no configured cluster, no network. They are looked up in this order:

1. ``ROVERBOT_PG_BINDIR`` (e.g. ``/usr/lib/postgresql/15/bin``), to pin a version;
2. ``pg_config --bindir``, if it points at a directory that really holds initdb and postgres
   (on Debian, /usr/bin/pg_config from libpq-dev alone does not);
3. the newest ``/usr/lib/postgresql/<version>/bin`` (the Debian/Ubuntu layout).

On Debian (and the project's Debian-based CI image) ``apt-get install -y postgresql`` provides
them if absent (``postgresql-15`` on bookworm to pin the major version); it also creates the
``postgres`` system user, which this module needs when the tests run as root, because initdb and
postgres refuse to run as root. Debian starts a system cluster as a side effect; nothing here uses
it. Without any binaries the PostgreSQL tests skip rather than fail.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

__all__ = ["PgServer", "PgServerError", "find_bindir"]

SUPERUSER = "postgres"

# Durability is pointless for a database that is deleted at the end of the run, and fsync is what
# makes PostgreSQL slow on CI disks. max_connections leaves room for connection pools in many
# concurrent tests.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    # Anonymous/POSIX shared memory in /dev/shm can be as small as 64 MB in containers; files in
    # the (temporary) data directory have no such limit.
    "dynamic_shared_memory_type": "mmap",
}


class PgServerError(RuntimeError):
    """The server could not be set up; the message carries the command output or log tail."""


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres"))


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bindir() -> Path | None:
    """Where initdb and postgres live, or None when PostgreSQL is not installed."""
    env = os.environ.get("ROVERBOT_PG_BINDIR")
    if env:
        # An explicit choice that is wrong should fail loudly, not silently fall back.
        if not _has_server(Path(env)):
            raise PgServerError(f"ROVERBOT_PG_BINDIR={env} holds no initdb/postgres")
        return Path(env)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None and out.returncode == 0 and _has_server(Path(out.stdout.strip())):
            return Path(out.stdout.strip())
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_server(p)]
    if candidates:
        return max(candidates, key=_version_key)
    return None


def _free_port() -> int:
    # The kernel picks an unused port; there is a small window before postgres binds it, which
    # start() covers by retrying with another port if the bind fails.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _traversable_by_all(path: Path) -> bool:
    """Whether every directory from / down to path has the x bit for others."""
    path = path.resolve()
    return all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents))


class PgServer:
    """A PostgreSQL server in a temporary directory; use as a context manager."""

    def __init__(self, bindir: Path | str | None = None, *, timeout: float = 30.0):
        found = Path(bindir) if bindir else find_bindir()
        if found is None:
            raise PgServerError("PostgreSQL server binaries not found (apt-get install -y postgresql)")
        self.bindir = found
        self.timeout = timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.directory: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._account: pwd.struct_passwd | None = None

    # -- paths and connection strings --------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.directory is not None, "server not started"
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        assert self.directory is not None, "server not started"
        return self.directory / "postgres.log"

    def dsn_for(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, AssertionError):
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> PgServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> PgServer:
        self._account = self._server_account()
        self.directory = self._make_directory()
        try:
            self._initdb()
            # The free port can be taken between _free_port() and postgres binding it (other
            # test processes do the same dance), so a failed bind gets a few more tries.
            for attempt in range(3):
                self.port = _free_port()
                self._spawn()
                if self._wait_ready(retry_on_bind_error=attempt < 2):
                    break
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._kill()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # SIGQUIT is PostgreSQL's "immediate shutdown" (what pg_ctl stop -m immediate sends): no
        # checkpoint, which is right for a data directory about to be deleted. The postmaster
        # waits for its children before exiting, so once it is gone the port is closed.
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    # -- steps --------------------------------------------------------------------------------

    @staticmethod
    def _server_account() -> pwd.struct_passwd | None:
        """The account to run initdb/postgres as: None means "as we are"."""
        if os.geteuid() != 0:
            return None
        # initdb and postgres refuse to run as root (a server bug would otherwise own the box).
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise PgServerError(
                "running as root, but there is no 'postgres' user to run the server as "
                "(apt-get install -y postgresql creates it)"
            ) from None

    def _make_directory(self) -> Path:
        base = Path(tempfile.gettempdir())
        if self._account is not None and not _traversable_by_all(base):
            # e.g. TMPDIR under /root: the postgres user could not reach its own data directory.
            base = Path("/tmp")
        directory = Path(tempfile.mkdtemp(prefix="roverbot-pg-", dir=base))
        if self._account is not None:
            # initdb creates data/ inside it and postgres puts its socket and lock file there,
            # all as the postgres user; mkdtemp's 0700 keeps everyone else out.
            os.chown(directory, self._account.pw_uid, self._account.pw_gid)
        return directory

    def _run_kwargs(self) -> dict:
        # The server is configured entirely by its command line; PG* variables from the
        # developer's shell (PGDATA, PGPORT, PGHOST...) must not leak into it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        # Messages in C locale; the cluster locale itself is set by --locale below.
        env["LC_ALL"] = "C"
        kwargs: dict = {"cwd": self.directory, "env": env}
        if self._account is not None:
            env.update(HOME=self._account.pw_dir, USER="postgres", LOGNAME="postgres")
            # group and extra_groups too: otherwise the server keeps root's gid and groups.
            kwargs.update(user=self._account.pw_uid, group=self._account.pw_gid, extra_groups=[])
        return kwargs

    def _initdb(self) -> None:
        cmd = [
            str(self.bindir / "initdb"),
            "--pgdata", str(self.data_dir),
            "--username", SUPERUSER,
            "--auth=trust",  # only loopback and a private socket: nobody else can reach it
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # nothing is worth fsyncing in a throwaway cluster
        ]
        result = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=max(self.timeout, 60), **self._run_kwargs(),
        )
        if result.returncode != 0:
            raise PgServerError(f"initdb failed ({result.returncode}):\n{result.stdout[-3000:]}")

    def _spawn(self) -> None:
        settings = {
            **SERVER_SETTINGS,
            "port": str(self.port),
            # The socket goes in the private temp dir, never /var/run/postgresql (which may not
            # exist, or belong to a system cluster).
            "unix_socket_directories": str(self.directory),
        }
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        # The log is written by our own file descriptor, so it works whoever the server runs as.
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                **self._run_kwargs(),
            )

    def _wait_ready(self, retry_on_bind_error: bool) -> bool:
        """True once the server accepts connections; False if it lost a port race (retry)."""
        assert self._proc is not None
        deadline = time.monotonic() + self.timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                tail = self.log_tail()
                if retry_on_bind_error and "could not bind" in tail:
                    return False
                raise PgServerError(f"postgres exited with code {code} while starting:\n{tail}")
            try:
                with psycopg.connect(self.dsn, connect_timeout=2, autocommit=True):
                    return True
            except psycopg.OperationalError as exc:
                last_error = exc
            if time.monotonic() > deadline:
                raise PgServerError(
                    f"postgres did not accept connections on {self.host}:{self.port} within "
                    f"{self.timeout:.0f}s (last error: {last_error}):\n{self.log_tail()}"
                )
            time.sleep(0.05)

    # -- databases ----------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create an empty database and return its DSN."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:  # CREATE DATABASE refuses transactions
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, even if a test left connections to it open."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
