"""The production stack's wiring for replicas (issue 17), checked without a Docker engine (none
runs on these machines): docker-compose.yml puts every store on the PostgreSQL service under a
database and login of their own, no replica keeps state in a file, so `--scale worker=3` needs
nothing shared but PostgreSQL and Temporal; the script that makes the database runs for real
against a PostgreSQL (pgserver); the dynamic config turns eager activity execution on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pgserver
import pytest
import yaml
from sqlalchemy import make_url, text

from store import Store
from tests.deploy.test_compose import DEPLOY, environment, raw, services

CONTINUUM_SERVICES = ("worker", "ops-worker", "gateway")
SCRIPT = DEPLOY / "postgres" / "create-continuum-db.sh"


def test_every_store_is_continuums_own_database_on_the_postgresql_service() -> None:
    urls = {
        name: make_url(environment(name)["CONTINUUM_DATABASE_URL"]) for name in CONTINUUM_SERVICES
    }
    for name, url in urls.items():
        assert url.drivername == "postgresql+psycopg", name
        assert (url.host, url.port, url.database, url.username) == (
            "postgresql",
            5432,
            "continuum",
            "continuum",
        ), name
        # Not Temporal's login: the store's password is a secret of its own.
        assert url.password == "value-of-stack_continuum_db_password"
        depends = services()[name]["depends_on"]
        assert depends["continuum-db"] == {"condition": "service_completed_successfully"}
    job = services()["continuum-db"]
    assert job["entrypoint"] == ["/bin/sh", "/scripts/create-continuum-db.sh"]
    assert environment("continuum-db")["PGHOST"] == "postgresql"


def test_no_replica_keeps_state_in_a_file() -> None:
    for name in CONTINUUM_SERVICES:
        env = environment(name)
        assert "SYNC_DB" not in env, name
        assert not [v for v in env.values() if v.endswith(".db") or "sqlite" in v], name
        assert not [a for a in services()[name]["command"] if ".db" in a], name
    # The worker scales: no name, no port, and its one volume holds report files, not state.
    worker = services()["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["volumes"] == ["reports:/reports"]
    assert environment("worker")["REPORTS_DIR"] == "/reports"
    declared = set(raw()["volumes"])
    assert "worker-data" not in declared


def test_the_production_dynamic_config_turns_eager_activities_on() -> None:
    temporal = services()["temporal"]
    path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    assert path == "config/dynamicconfig/production-sql.yaml"
    config = yaml.safe_load(
        (DEPLOY / "temporal" / "dynamicconfig" / "production-sql.yaml").read_text()
    )
    assert config["system.enableActivityEagerExecution"] == [{"value": True, "constraints": {}}]


def run_script(uri: str, password: str) -> subprocess.CompletedProcess[str]:
    socket_dir = uri.split("host=", 1)[1]
    bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PGHOST": socket_dir,
        "PGUSER": "postgres",
        "PGPASSWORD": "unused-local-trust",
        "CONTINUUM_DB_PASSWORD": password,
    }
    return subprocess.run(
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.integration
def test_the_database_script_makes_the_store_and_is_safe_to_run_again(postgres: str) -> None:
    for _ in range(2):  # every `up` runs it
        made = run_script(postgres, "s3cret-Pass_word")
        assert made.returncode == 0, made.stderr
        assert "Continuum's store database is ready" in made.stdout
    socket_dir = postgres.split("host=", 1)[1]
    url = f"postgresql+psycopg://continuum:s3cret-Pass_word@/continuum?host={socket_dir}"
    store = Store(url).open()  # as the continuum login: it owns its database and migrates it
    try:
        with store.read() as db:
            assert db.scalar(text("SELECT current_user")) == "continuum"
            assert db.scalar(text("SELECT version_num FROM alembic_version")) == "0004"
            owner = db.scalar(
                text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'continuum'")
            )
            assert owner == "continuum"
    finally:
        store.close()
