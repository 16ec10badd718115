"""`continuum backup` / `continuum restore`: Continuum's own store and, for the embedded stack,
Temporal's SQLite file, copied consistently into one directory with a manifest, and put back.

Order matters: the store is copied before Temporal. A webhook receipt is accepted only after
Temporal took its event, so every receipt in the store's copy has its event in Temporal's later
copy (the reverse would refuse a sender's retry of an event the restored Temporal never saw);
a sync page acknowledged after the store's copy is simply synced again (idempotent upserts).

The codec keys are never copied: the histories stay encrypted in the backup, and a restore
needs the keys from where they are kept (CONTINUUM_CODEC_KEYS, the key file, a vault).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

from continuum.release.consistency import (
    Check,
    StoreFacts,
    TemporalFacts,
    compare,
    compare_store,
    sqlite_integrity,
    store_facts,
    store_rules,
    temporal_facts,
)
from continuum.release.snapshots import SnapshotError, copy_sqlite, holders, pg_dump, pg_restore
from store.database import masked

MANIFEST = "manifest.json"
STORE_SQLITE = "store.sqlite"
STORE_DUMP = "store.pgdump"
TEMPORAL_FILE = "temporal.db"


class BackupError(ValueError):
    """A backup or a restore cannot be done; the message is one line that says why."""


class FileEntry(BaseModel):
    name: str
    sha256: str
    size: int


class Manifest(BaseModel):
    format: Literal[1] = 1
    created_at: datetime
    store: str  # the store's URL, password masked
    store_kind: Literal["sqlite", "postgresql"]
    temporal_source: str | None  # the embedded Temporal's file, or None
    files: list[FileEntry]
    store_facts: StoreFacts
    temporal_facts: TemporalFacts | None


class Restored(BaseModel):
    checks: list[Check]
    moved_aside: list[str]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _url(store_url: str) -> URL:
    url = make_url(store_url)
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise BackupError(f"the store {masked(url)} is neither SQLite nor PostgreSQL")
    return url


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError(f"the store {masked(url)} is not a file")
    return Path(url.database)


def _facts_of_sqlite(path: Path) -> StoreFacts:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as db:
            return store_facts(db)
    finally:
        engine.dispose()


def _backup_postgres(url: URL, target: Path) -> StoreFacts:
    """The facts and the dump of one snapshot: the facts' transaction exports it to pg_dump."""
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            db = db.execution_options(isolation_level="REPEATABLE READ")
            with db.begin():
                snapshot = str(db.execute(text("SELECT pg_export_snapshot()")).scalar())
                major = int(db.execute(text("SHOW server_version_num")).scalar() or 0) // 10000
                facts = store_facts(db)
                pg_dump(url, major, snapshot, target)
        return facts
    finally:
        engine.dispose()


def backup(store_url: str, temporal_db: Path | None, into: Path, now: datetime) -> Path:
    """Writes `into`/continuum-<time>/ and returns it; its manifest is written last, so a
    directory without one is an interrupted backup."""
    url = _url(store_url)
    target = into / f"continuum-{now:%Y%m%dT%H%M%SZ}"
    try:
        target.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise BackupError(f"{target} exists already") from None
    target.chmod(0o700)  # the store's quarantine holds whole records, e-mail addresses included
    try:
        if url.get_backend_name() == "sqlite":
            copy_sqlite(_sqlite_path(url), target / STORE_SQLITE)
            facts = _facts_of_sqlite(target / STORE_SQLITE)
            if not (check := sqlite_integrity(target / STORE_SQLITE)).ok:
                raise BackupError(f"the store's copy is damaged: {check.detail}")
        else:
            facts = _backup_postgres(url, target / STORE_DUMP)
        seen: TemporalFacts | None = None
        if temporal_db is not None:
            copy_sqlite(temporal_db, target / TEMPORAL_FILE)
            if not (check := sqlite_integrity(target / TEMPORAL_FILE, quick=True)).ok:
                raise BackupError(f"Temporal's copy is damaged: {check.detail}")
            seen = temporal_facts(target / TEMPORAL_FILE)
    except SnapshotError as err:
        shutil.rmtree(target)
        raise BackupError(str(err)) from None
    except BaseException:
        shutil.rmtree(target)
        raise
    files = [
        FileEntry(name=p.name, sha256=_sha256(p), size=p.stat().st_size)
        for p in sorted(target.iterdir())
    ]
    manifest = Manifest(
        created_at=now,
        store=masked(url),
        store_kind="sqlite" if url.get_backend_name() == "sqlite" else "postgresql",
        temporal_source=str(temporal_db) if temporal_db else None,
        files=files,
        store_facts=facts,
        temporal_facts=seen,
    )
    partial = target / f".{MANIFEST}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(manifest.model_dump_json(indent=2))
    partial.replace(target / MANIFEST)
    return target


def read_backup(source: Path) -> Manifest:
    """The manifest of a complete, undamaged backup."""
    path = source / MANIFEST
    if not path.exists():
        raise BackupError(f"{source} is not a complete Continuum backup: it has no {MANIFEST}")
    try:
        manifest = Manifest.model_validate_json(path.read_text())
    except ValidationError:
        raise BackupError(f"{path} is not a Continuum backup manifest") from None
    for entry in manifest.files:
        copy = source / entry.name
        if not copy.exists():
            raise BackupError(f"the backup is incomplete: {copy} is missing")
        if _sha256(copy) != entry.sha256:
            raise BackupError(f"the backup is damaged: {copy} does not match its checksum")
    return manifest


def _refuse_if_open(path: Path, what: str) -> None:
    if using := holders(path):
        raise BackupError(
            f"{what} {path} is open in {', '.join(using)}: stop the stack before restoring"
        )


def _put_back(copy: Path, target: Path, stamp: str) -> list[str]:
    """Moves the current file (and its WAL) aside, then puts the copy in its place."""
    moved = []
    for suffix in ("", "-wal", "-shm"):
        current = Path(f"{target}{suffix}")
        if current.exists():
            aside = Path(f"{target}{suffix}.before-restore-{stamp}")
            current.replace(aside)
            moved.append(str(aside))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(copy, partial)
    partial.chmod(0o600)
    partial.replace(target)
    return moved


def restore(
    source: Path, store_url: str, temporal_db: Path | None, now: datetime, dry_run: bool = False
) -> Restored:
    """Puts the backup at `source` in place of the store (and of Temporal's file), then checks
    the restored state against the backup's facts. `dry_run`: checks the backup only."""
    manifest = read_backup(source)
    url = _url(store_url)
    kind = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"
    if kind != manifest.store_kind:
        raise BackupError(
            f"the backup holds a {manifest.store_kind} store, but the store is {masked(url)}"
        )
    if manifest.temporal_facts is not None and temporal_db is None:
        raise BackupError("the backup holds Temporal's file: say where it goes (--temporal-db)")
    if kind == "sqlite":
        _refuse_if_open(_sqlite_path(url), "the store")
    if temporal_db is not None and manifest.temporal_source is not None:
        _refuse_if_open(temporal_db, "Temporal's database")
    if dry_run:
        return Restored(checks=_checked_copies(source, manifest), moved_aside=[])
    stamp = f"{now:%Y%m%dT%H%M%SZ}"
    moved: list[str] = []
    if kind == "sqlite":
        moved += _put_back(source / STORE_SQLITE, _sqlite_path(url), stamp)
    else:
        _restore_postgres(url, source / STORE_DUMP)
    if temporal_db is not None and manifest.temporal_source is not None:
        moved += _put_back(source / TEMPORAL_FILE, temporal_db, stamp)
    return Restored(checks=consistency(manifest, url, temporal_db), moved_aside=moved)


def _restore_postgres(url: URL, dump: Path) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            others = db.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
            major = int(db.execute(text("SHOW server_version_num")).scalar() or 0) // 10000
    finally:
        engine.dispose()
    if others:
        raise BackupError(
            f"{others} other connections use the store {masked(url)}: stop the workers and"
            " gateways before restoring"
        )
    try:
        pg_restore(url, major, dump)
    except SnapshotError as err:
        raise BackupError(str(err)) from None


def _checked_copies(source: Path, manifest: Manifest) -> list[Check]:
    checks = [Check(name="checksums", ok=True, detail=f"{len(manifest.files)} files match")]
    if manifest.store_kind == "sqlite":
        checks.append(sqlite_integrity(source / STORE_SQLITE))
        checks += compare_store(manifest.store_facts, _facts_of_sqlite(source / STORE_SQLITE))
    if manifest.temporal_facts is not None:
        checks.append(sqlite_integrity(source / TEMPORAL_FILE, quick=True))
    return checks


def consistency(manifest: Manifest, url: URL, temporal_db: Path | None) -> list[Check]:
    """The restored state against the backup's facts, and the store's own rules."""
    checks: list[Check] = []
    if url.get_backend_name() == "sqlite":
        checks.append(sqlite_integrity(_sqlite_path(url)))
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            checks += compare_store(manifest.store_facts, store_facts(db))
            checks += store_rules(db)
    finally:
        engine.dispose()
    if temporal_db is not None and manifest.temporal_facts is not None:
        checks.append(sqlite_integrity(temporal_db, quick=True))
        found = temporal_facts(temporal_db)
        checks.append(
            compare(
                "running processes",
                manifest.temporal_facts.running,
                found.running if found else None,
            )
        )
    return checks
