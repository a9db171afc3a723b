#!/usr/bin/env bash
# The whole test suite: SQLite, a PostgreSQL 15 server and a MariaDB server that the tests
# start themselves, and headless Chromium for the HTML report and the Mermaid charts.
# Missing server binaries and the browser are installed from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! command -v initdb >/dev/null 2>&1; then
  need+=(postgresql-15)
fi
# MariaDB for the OpenEMR target's tests: they start their own server (own datadir and
# socket, --no-defaults), so a service apt may start alongside does not matter.
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; then
  need+=(mariadb-server)
fi
if ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
# ssh-keygen: the signed-approval tests prove interoperability with the real `ssh-keygen -Y sign`.
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
# promtool checks the example alert rules; systemd-analyze verifies the example unit.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (Debian packages the tests need)" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash scripts/fetch-mermaid.sh
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
