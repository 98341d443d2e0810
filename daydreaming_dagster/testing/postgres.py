"""A private PostgreSQL cluster for tests and benchmarks: initdb in a temporary folder, a free port.

    reason = postgres_unavailable()
    if reason: pytest.skip(reason)
    with PostgresCluster() as pg:
        url = pg.url            # postgresql+psycopg2://postgres@127.0.0.1:<port>/dagster

The binaries (``initdb``, ``pg_ctl``) come from ``DD_PG_BIN``, else the newest
``/usr/lib/postgresql/<version>/bin``, else ``PATH``. PostgreSQL refuses to run as root: as root the
cluster folder is owned by the ``postgres`` user and the binaries run through ``runuser -u
postgres``. The server listens on 127.0.0.1 only (trust authentication, no password) and on a Unix
socket inside its own folder; ``stop()`` shuts it down and deletes the folder.

``psycopg2`` comes with ``dagster-postgres`` (the ``postgres`` extra). SQLAlchemy 2 maps a bare
``postgresql://`` URL to psycopg 3, hence the ``postgresql+psycopg2://`` URLs.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

ENV_BIN = "DD_PG_BIN"


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None."""
    candidates: list[str] = []
    if os.environ.get(ENV_BIN):
        candidates.append(os.environ[ENV_BIN])
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: _version(p), reverse=True)
    candidates += versions
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _version(path: str) -> int:
    try:
        return int(Path(path).parent.name.split(".")[0])
    except ValueError:
        return 0


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def postgres_unavailable() -> str | None:
    """Why a private cluster cannot start here (None when it can)."""
    if find_pg_bin() is None:
        return f"PostgreSQL binaries (initdb, pg_ctl) not found: install PostgreSQL or set {ENV_BIN}"
    try:
        import psycopg2  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return "psycopg2 is missing: install the postgres extra (pip install -e '.[postgres]')"
    if _is_root():
        if shutil.which("runuser") is None:
            return "running as root without runuser: PostgreSQL refuses to run as root"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """A throwaway PostgreSQL server (see the module docstring). ``settings`` are extra
    ``postgresql.conf`` lines (e.g. ``{"fsync": "off"}`` for benchmarks that measure Dagster, not disks)."""

    def __init__(
        self,
        *,
        database: str = "dagster",
        port: int | None = None,
        settings: dict[str, str] | None = None,
        base_dir: str | None = None,
    ) -> None:
        reason = postgres_unavailable()
        if reason:
            raise RuntimeError(reason)
        bin_dir = find_pg_bin()
        assert bin_dir is not None
        self.bin_dir = bin_dir
        self.database = database
        self.port = port or free_port()
        self.settings = {"max_connections": "200", **(settings or {})}
        self.base_dir = base_dir
        self.folder: Path | None = None
        self._started = False

    @property
    def data_dir(self) -> Path:
        assert self.folder is not None
        return self.folder / "data"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if _is_root():
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> PostgresCluster:
        # The folder must be reachable by the postgres user: not under pytest's 0700 tmp folders.
        self.folder = Path(tempfile.mkdtemp(prefix="dd-pg-", dir=self.base_dir))
        if _is_root():
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        try:
            self._run(
                str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            )
            with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
                for key, value in self.settings.items():
                    conf.write(f"{key} = {value}\n")
            options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", options,
                "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start",
            )
            self._started = True
            self.create_database(self.database)
        except BaseException as exc:
            log = self.log_tail()
            self.stop()
            if isinstance(exc, subprocess.CalledProcessError):
                raise RuntimeError(f"PostgreSQL did not start: {exc.stderr or exc.stdout}\n{log}") from exc
            raise
        return self

    def create_database(self, name: str) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def log_tail(self, lines: int = 30) -> str:
        if self.folder is None:
            return ""
        try:
            return "\n".join((self.folder / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.folder is None:
            return
        if self._started:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", check=False)
            self._started = False
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
