#!/usr/bin/env bash
# The whole test suite, on SQLite and on a PostgreSQL 15 server the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! command -v initdb >/dev/null 2>&1; then
  echo "installing PostgreSQL 15 server binaries" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql-15 >/dev/null; fi
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (the HTML report and the Mermaid charts are tested in it)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
bash scripts/fetch-mermaid.sh
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
