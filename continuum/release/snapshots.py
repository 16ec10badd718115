"""Consistent copies of live databases, and who still holds a database open.

SQLite: the online backup API copies the whole file inside one read transaction, so the copy is
the database at one moment even while the stack writes (WAL: the writers never wait for it).
PostgreSQL: `pg_dump` under a snapshot exported by the transaction that read the backup's facts,
so the dump and the facts are the same moment; `pg_restore` into the emptied store.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra
from sqlalchemy import URL

PG_BIN_ENV = "CONTINUUM_PG_BIN"
_MAJOR = re.compile(r"\(PostgreSQL\) (\d+)")


class SnapshotError(ValueError):
    """A copy or a restore cannot be made; the message is one line that says why."""


def copy_sqlite(source: Path, target: Path) -> None:
    """`source` as it is at one moment, into the new file `target` (mode 0600)."""
    if not source.exists():
        raise SnapshotError(f"{source} does not exist")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as live,
        closing(sqlite3.connect(target)) as copy,
    ):
        live.backup(copy)
        # The copy is a plain file on its own: no WAL beside it to carry around.
        copy.execute("PRAGMA journal_mode=DELETE")


def holders(path: Path) -> list[str]:
    """The processes that hold `path` (or its WAL) open, as 'name (pid N)'."""
    wanted = {str(path.resolve()), f"{path.resolve()}-wal", f"{path.resolve()}-shm"}
    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if any(f.path in wanted for f in proc.open_files()):
                found.append(f"{proc.info['name']} (pid {proc.info['pid']})")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _candidates(tool: str) -> list[Path]:
    dirs: list[Path] = []
    if os.environ.get(PG_BIN_ENV):
        dirs.append(Path(os.environ[PG_BIN_ENV]))
    # pgserver (a PostgreSQL in a wheel) ships the client tools of its server.
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "pginstall" / "bin")
    on_path = shutil.which(tool)
    if on_path:
        dirs.append(Path(on_path).parent)
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return [d / tool for d in dirs if (d / tool).exists()]


def _major(binary: Path) -> int:
    answer = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    found = _MAJOR.search(answer.stdout)
    return int(found.group(1)) if found else 0


def pg_tool(tool: str, server_major: int) -> Path:
    """The newest `tool` (pg_dump, pg_restore) that can read a server of `server_major`."""
    usable = [(m, b) for b in _candidates(tool) if (m := _major(b)) >= server_major]
    if not usable:
        raise SnapshotError(
            f"no {tool} for PostgreSQL {server_major} or newer: install the PostgreSQL client"
            f" tools, or name their directory in {PG_BIN_ENV}"
        )
    return max(usable)[1]


def libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries the password."""
    plain = url.set(drivername="postgresql", password=None)
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return plain.render_as_string(hide_password=False), env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise SnapshotError(f"{what} failed: {lines[-1] if lines else done.returncode}")


def pg_dump(url: URL, server_major: int, snapshot: str, target: Path) -> None:
    uri, env = libpq(url)
    tool = pg_tool("pg_dump", server_major)
    _run(
        [
            str(tool),
            "--format=custom",
            "--no-owner",
            f"--snapshot={snapshot}",
            "-f",
            str(target),
            "-d",
            uri,
        ],
        env,
        "pg_dump",
    )
    target.chmod(0o600)


def pg_restore(url: URL, server_major: int, dump: Path) -> None:
    """Replaces the store's tables with the dump's, in one transaction."""
    uri, env = libpq(url)
    tool = pg_tool("pg_restore", server_major)
    _run(
        [
            str(tool),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "-d",
            uri,
            str(dump),
        ],
        env,
        "pg_restore",
    )
