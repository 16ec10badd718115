#!/bin/sh
# Continuum's own store on the stack's PostgreSQL: a database and a login of its own, so that
# its workers, ops worker and gateways share state with no file on any volume (issue 17).
# Safe to run on every `up`: creates what is missing and sets the password from .env again.
set -eu

: "${PGHOST:?}" "${PGUSER:?}" "${PGPASSWORD:?}" "${CONTINUUM_DB_PASSWORD:?}"

until pg_isready -q; do echo "waiting for PostgreSQL"; sleep 1; done

psql -v ON_ERROR_STOP=1 -v pw="$CONTINUUM_DB_PASSWORD" -d postgres <<'SQL'
SELECT 'CREATE ROLE continuum LOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'continuum')\gexec
ALTER ROLE continuum WITH LOGIN PASSWORD :'pw';
SELECT 'CREATE DATABASE continuum OWNER continuum'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'continuum')\gexec
REVOKE ALL ON DATABASE continuum FROM PUBLIC;
GRANT ALL ON DATABASE continuum TO continuum;
SQL
echo "Continuum's store database is ready"
