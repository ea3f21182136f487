"""A throwaway PostgreSQL server with the pgvector extension, for the psycopg tests.

The server is the one the ``pgserver`` wheel bundles (PostgreSQL 16 with pgvector; Debian has
no pgvector package), else a Debian ``postgresql-NN`` one (without pgvector: the similarity
tests then skip). It runs from a data directory in a fresh temporary directory, listening on a
free loopback port and a unix socket there, with durability off (a test database). initdb and
postgres refuse to run as root, so as root they run as ``nobody``, from a copy of the
installation in the temporary directory when ``nobody`` cannot reach the installed one (a
checkout under /root).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DATABASE = "vectors"
USER = "postgres"
INITDB_OPTIONS = ("--auth=trust", "--encoding=UTF8", "--no-sync")
SERVER_OPTIONS = (  # a test database: no durability, few connections
    *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
    *("-c", "max_connections=30"),
)


class CannotStart(Exception):
    """No PostgreSQL server could be started here (the message says why)."""


def find_binaries() -> Path:
    """The directory holding ``initdb`` and ``postgres``."""
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "pginstall" / "bin"
        if (bundled / "postgres").exists():
            return bundled
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(found, "postgres").exists():
            return Path(found)
    raise CannotStart("no PostgreSQL server binaries: pip install pgserver (bundles pgvector)")


class PostgresServer:
    """One running server; ``stop()`` ends it and removes its files."""

    def __init__(self) -> None:
        self.bin = find_binaries()
        self.root = Path(tempfile.mkdtemp(prefix="llmtrace-pg-"))
        self.port = _free_port()
        self.host = "127.0.0.1"
        self._process: subprocess.Popen[bytes] | None = None
        self._as_user: dict[str, object] = {}
        try:
            if os.geteuid() == 0:  # initdb and postgres refuse to run as root
                self._as_user = {"user": "nobody", "group": "nogroup", "extra_groups": []}
                shutil.chown(self.root, "nobody", "nogroup")
                if not self._runs(self.bin / "postgres"):
                    self.bin = self._copy_install()
            self._start()
        except BaseException:
            self.stop()
            raise

    def _runs(self, program: Path) -> bool:
        """Whether ``program`` runs as the server's user (every directory above it must let
        that user in: a checkout under /root does not)."""
        try:
            return (
                subprocess.run(
                    [str(program), "--version"],
                    capture_output=True,
                    timeout=30,
                    **self._as_user,  # type: ignore[arg-type]
                ).returncode
                == 0
            )
        except OSError:
            return False

    def _copy_install(self) -> Path:
        """pgserver's installation copied where the server's user can run it (this server's
        temporary directory), in the same layout: its binaries find their files relative to
        themselves, and their libraries in ``../../../pgserver.libs``. Its ``bin``."""
        install = self.bin.parent  # site-packages/pgserver/pginstall
        site = self.root / "site"
        for part in ("bin", "lib", "share"):
            shutil.copytree(install / part, site / "pgserver" / "pginstall" / part, symlinks=True)
        libraries = install.parent.parent / "pgserver.libs"
        if libraries.is_dir():
            shutil.copytree(libraries, site / "pgserver.libs", symlinks=True)
        copied = site / "pgserver" / "pginstall" / "bin"
        if not self._runs(copied / "postgres"):
            raise CannotStart(f"the PostgreSQL binaries in {install} do not run as nobody")
        return copied

    def _start(self) -> None:
        data = self.root / "data"
        initdb = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(data), "-U", USER, *INITDB_OPTIONS],
            capture_output=True,
            text=True,
            timeout=120,
            **self._as_user,  # type: ignore[arg-type]
        )
        if initdb.returncode != 0:
            raise CannotStart(f"initdb failed: {initdb.stderr.strip()[-500:]}")
        self.log = self.root / "server.log"
        listen = ("-h", self.host, "-p", str(self.port), "-k", str(self.root))
        with open(self.log, "wb") as log:
            self._process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(data), *listen, *SERVER_OPTIONS],
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._as_user,  # type: ignore[arg-type]
            )
        import psycopg

        deadline = time.monotonic() + 30
        while True:  # accepting connections is not ready: "the database system is starting up"
            try:
                with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
                    connection.execute(f"CREATE DATABASE {DATABASE}")
                break
            except psycopg.OperationalError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise CannotStart(
                        f"postgres did not start: {self.log.read_text()[-800:]}"
                    ) from None
                time.sleep(0.05)
        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            try:
                connection.execute("CREATE EXTENSION vector")
                self.pgvector = True
            except psycopg.Error:
                self.pgvector = False

    def dsn(self, database: str = DATABASE) -> str:
        """A libpq connection string for ``database`` over loopback TCP."""
        return f"host={self.host} port={self.port} user={USER} dbname={database}"

    def url(self, driver: str = "postgresql+psycopg", database: str = DATABASE) -> str:
        """A SQLAlchemy URL."""
        return f"{driver}://{USER}@{self.host}:{self.port}/{database}"

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: disconnects clients
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
