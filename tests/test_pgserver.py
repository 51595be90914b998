"""The throwaway PostgreSQL server the suite runs against: a real server process, no mocks."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest

from tests.pgserver import SERVER_SETTINGS, PgServer, PgServerError, find_bindir

if find_bindir() is None:
    pytest.skip(
        "PostgreSQL server binaries not found (apt-get install -y postgresql, or set ROVERBOT_PG_BINDIR)",
        allow_module_level=True,
    )

psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def pg():
    with PgServer() as server:
        yield server


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on port, from the kernel's own tables."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A is TCP_LISTEN
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


def _outward_address() -> str | None:
    """This machine's address on its default route, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never actually contacted
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _temp_dirs() -> set[Path]:
    # PgServer falls back to /tmp when running as root with an unreachable TMPDIR
    return {*Path(tempfile.gettempdir()).glob("roverbot-pg-*"), *Path("/tmp").glob("roverbot-pg-*")}


def test_two_databases_are_isolated(pg):
    first = pg.create_database("isolation_a")
    second = pg.create_database("isolation_b")
    assert first.endswith("/isolation_a") and second.endswith("/isolation_b")
    with psycopg.connect(first) as conn:
        conn.execute("CREATE TABLE only_here (id integer PRIMARY KEY)")
        conn.execute("INSERT INTO only_here VALUES (1)")
    with psycopg.connect(first) as conn:
        assert conn.execute("SELECT count(*) FROM only_here").fetchone() == (1,)
        assert conn.execute("SELECT current_database()").fetchone() == ("isolation_a",)
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM only_here")


def test_drop_database_removes_it_even_with_a_connection_open(pg):
    dsn = pg.create_database("dropped")
    leftover = psycopg.connect(dsn)  # a test that forgot to close its connection
    try:
        pg.drop_database("dropped")
    finally:
        leftover.close()
    with psycopg.connect(pg.dsn) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'dropped'").fetchone() is None
    pg.drop_database("dropped")  # dropping what is not there is fine


def test_it_is_postgresql_with_the_test_settings(pg):
    with psycopg.connect(pg.dsn) as conn:
        assert conn.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL ")
        assert conn.info.server_version >= 130000  # DROP DATABASE ... WITH (FORCE) needs 13
        for name in ("fsync", "synchronous_commit", "full_page_writes", "max_connections"):
            # names from the fixed tuple above; SHOW takes no parameters
            assert conn.execute(f"SHOW {name}").fetchone()[0] == SERVER_SETTINGS[name]
        assert conn.execute("SHOW server_encoding").fetchone()[0] == "UTF8"
        assert conn.execute("SHOW lc_collate").fetchone()[0] == "C"
        assert conn.execute("SHOW unix_socket_directories").fetchone()[0] == str(pg.directory)


def test_it_listens_on_127_0_0_1_only(pg):
    with psycopg.connect(pg.dsn) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW port").fetchone() == (str(pg.port),)
    if Path("/proc/net/tcp").exists():
        assert _listening_addresses(pg.port) == {"127.0.0.1"}
    for host in ("::1", _outward_address()):
        if host is None:
            continue
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(host=host, port=pg.port, user="postgres", dbname="postgres", connect_timeout=3)


def test_the_server_never_runs_as_root(pg):
    with psycopg.connect(pg.dsn) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        pytest.skip("no /proc to inspect the backend")
    uids = next(line for line in status.read_text().splitlines() if line.startswith("Uid:")).split()[1:]
    assert "0" not in uids
    assert pg.data_dir.stat().st_uid == int(uids[0])


def test_after_the_block_the_port_is_closed_and_the_directory_gone():
    with PgServer() as server:
        port, directory = server.port, server.directory
        with psycopg.connect(server.create_database("short_lived")) as conn:
            conn.execute("CREATE TABLE t (x integer)")
        assert directory.is_dir() and (directory / "data" / "PG_VERSION").exists()
    assert not directory.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn, connect_timeout=3)


def test_a_server_that_cannot_start_says_why_and_leaves_nothing_behind(monkeypatch):
    before = _temp_dirs()
    monkeypatch.setitem(SERVER_SETTINGS, "max_connections", "-5")
    server = PgServer()
    with pytest.raises(PgServerError) as caught:
        server.start()
    # the message carries the server log tail, with the server's own reason
    assert "max_connections" in str(caught.value)
    assert server.directory is None
    assert _temp_dirs() <= before
