#!/usr/bin/env bash
# The whole test suite, on SQLite and on PostgreSQL 15 and MariaDB servers the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! command -v initdb >/dev/null 2>&1; then
  echo "installing PostgreSQL 15 server binaries" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql-15 >/dev/null; fi
fi
# MariaDB for the OpenEMR target's tests; they start their own server (own datadir and
# socket, --no-defaults), so a service apt may start alongside does not matter.
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; then
  echo "installing MariaDB server binaries" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq mariadb-server >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq mariadb-server >/dev/null; fi
fi
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
