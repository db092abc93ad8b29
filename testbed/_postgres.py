"""A throwaway PostgreSQL cluster (Debian's server), for tests of the business data store.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` user
(DESIGN.md): initdb and the server run as that user, started by Python's
`subprocess(user=...)` (what `runuser -u postgres` does, but the server stays our own
child: we signal and reap it directly). The cluster, with its Unix socket, lives in a
short directory of its own under the system temp dir: a pytest work directory sits
under a root-only directory the postgres user cannot enter, and a socket path may
not exceed 107 bytes. No TCP port: the server listens on its socket only, so
clusters of parallel tests never collide. fsync is off and initdb does not sync:
the data is thrown away.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from testbed._waiting import wait_until

POSTGRES_USER = "postgres"
PORT = 5432  # only names the socket file (.s.PGSQL.5432) in the cluster's own directory
START_TIMEOUT_S = 30.0


def postgres_bin() -> Path:
    """The newest /usr/lib/postgresql/<N>/bin (15 on Debian 12, 17 on Debian 13)."""
    found = [
        path
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if re.fullmatch(r"\d+", path.parent.name) and (path / "initdb").exists()
    ]
    if not found:
        raise AssertionError(
            "no PostgreSQL server in /usr/lib/postgresql/<N>/bin: run scripts/install"
        )
    return max(found, key=lambda path: int(path.parent.name))


@contextmanager
def running_postgres(workdir: Path) -> Iterator[str]:
    """Start a fresh cluster; yield a SQLAlchemy URL (psycopg, the `postgres` database,
    superuser `postgres`, no password). Its log is `workdir/postgres.log`. Leaving the
    block stops it (fast shutdown) and removes the cluster."""
    workdir.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    user = POSTGRES_USER if as_root else None
    cluster = Path(tempfile.mkdtemp(prefix="pg-"))
    if as_root:
        account = pwd.getpwnam(POSTGRES_USER)
        os.chown(cluster, account.pw_uid, account.pw_gid)
    data, binaries = cluster / "data", postgres_bin()
    log_path = workdir / "postgres.log"
    server: subprocess.Popen[bytes] | None = None
    try:
        with log_path.open("ab") as log:
            subprocess.run(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    POSTGRES_USER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    # Byte order for sorting, but letters are letters: pg_trgm makes
                    # trigrams only of what the ctype calls alphanumeric (Chinese names).
                    "--lc-ctype=C.UTF-8",
                    "--no-sync",
                ],
                user=user,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=60,
                cwd=cluster,
            )
            server = subprocess.Popen(
                [
                    str(binaries / "postgres"),
                    "-D",
                    str(data),
                    "-k",
                    str(cluster),
                    "-p",
                    str(PORT),
                    "-c",
                    "listen_addresses=",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                user=user,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cluster,
            )
        conninfo = f"host={cluster} port={PORT} user={POSTGRES_USER} dbname=postgres"
        wait_until(
            lambda: _accepts(server, conninfo, log_path),
            timeout=START_TIMEOUT_S,
            what="PostgreSQL to accept connections",
            interval=0.05,
        )
        yield f"postgresql+psycopg://{POSTGRES_USER}@/postgres?host={cluster}&port={PORT}"
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # fast shutdown: ends sessions, no waiting
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        shutil.rmtree(cluster, ignore_errors=True)


def _accepts(server: subprocess.Popen[bytes], conninfo: str, log_path: Path) -> bool:
    if server.poll() is not None:
        raise AssertionError(f"postgres exited ({server.returncode}): {log_path.read_text()}")
    try:
        with psycopg.connect(conninfo, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def create_database(url: str, name: str) -> str:
    """Create the empty database `name` on the cluster of `url`; its URL."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"not a plain database name: {name!r}")
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url.replace("@/postgres?", f"@/{name}?", 1)
