#!/usr/bin/env bash
# Create .venv and install reconciler into it from the committed lock file
# (requirements/app.lock; with --test, requirements/test.lock, which adds the test tools).
# Versions and hashes are pinned, so a new release upstream cannot change what runs here;
# scripts/lock.sh refreshes the locks, scripts/test-latest.sh tries the newest releases.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
lock=requirements/app.lock
[ "${1:-}" = "--test" ] && lock=requirements/test.lock
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" --require-hashes -r "$lock"
"${pip[@]}" --no-deps -e .
