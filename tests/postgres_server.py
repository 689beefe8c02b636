"""A throwaway PostgreSQL server on 127.0.0.1 for the tests, from Debian's packages.

``make test`` installs the ``postgresql`` package (as root) and each test session starts
its own server in a temporary folder on a free port, with trust authentication on
loopback only. As root, the server runs as the ``postgres`` user (PostgreSQL refuses to
run as root). Tests skip, saying why, only where no server can be started.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PostgresServer", "postgres_server"]


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (the message says why)."""


class PostgresServer:
    """A running server; :meth:`new_database` gives each test a database of its own."""

    def __init__(self, port: int) -> None:
        self.port = port

    def url(self, database: str = "postgres") -> str:
        """The connection URL of ``database``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (make test installs Debian's postgresql as root;"
            " else: sudo apt-get install postgresql)"
        )
    return Path(found[-1]).parent


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root and runuser is missing")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and there is no postgres user") from None
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def postgres_server(port: int) -> Iterator[PostgresServer]:
    """Start a server in a new temporary folder, listening on 127.0.0.1:``port`` only.

    The folder is removed when the server stops (it is outside pytest's own temporary
    folders, which the ``postgres`` user cannot enter).

    Raises:
        PostgresUnavailable: the binaries or a user to run them as are missing, or the
            server did not start (with its log).
    """
    bin_dir, prefix = _binaries(), _as_server_user()
    folder = Path(tempfile.mkdtemp(prefix="orchestra-pg-"))
    data, log = folder / "data", folder / "server.log"
    if prefix:
        shutil.chown(folder, "postgres")
    try:
        _run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            "initdb",
        )
        options = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off"
        try:
            _run(
                [
                    *prefix,
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                "pg_ctl start",
            )
        except PostgresUnavailable as exc:
            server_log = log.read_text() if log.exists() else ""
            raise PostgresUnavailable(f"{exc}\n{server_log}") from None
        try:
            yield PostgresServer(port)
        finally:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PostgresUnavailable(f"{what} failed: {done.stderr or done.stdout}")
