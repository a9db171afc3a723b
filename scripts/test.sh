#!/usr/bin/env bash
# The whole test suite, on SQLite and on a PostgreSQL 15 server the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! command -v initdb >/dev/null 2>&1; then
  echo "installing PostgreSQL 15 server binaries" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql-15 >/dev/null; fi
fi
if ! command -v ssh-keygen >/dev/null 2>&1; then
  # the signed-approval tests prove interoperability with the real `ssh-keygen -Y sign`
  echo "installing openssh-client (ssh-keygen)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq openssh-client >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq openssh-client >/dev/null; fi
fi
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
