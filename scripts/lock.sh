#!/usr/bin/env bash
# Refresh the pinned environments from pyproject.toml's ranges (run after changing a
# dependency, or to take newer releases on purpose; commit the result):
#   requirements/app.lock   what `scripts/setup.sh` installs (the tool and its libraries)
#   requirements/test.lock  what `scripts/test.sh` installs (the above plus the test tools)
# Both carry hashes, so an install from them is byte-for-byte the reviewed one.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools" && "$tools/bin/pip" install -q uv
compile() { "$tools/bin/uv" pip compile --quiet --python-version 3.11 --generate-hashes --no-header "$@" pyproject.toml; }
compile -o requirements/app.lock
compile --extra test -o requirements/test.lock
compile --extra test --extra mutation -o requirements/mutation.lock
compile --extra test --extra fuzz -o requirements/fuzz.lock
echo "requirements/*.lock refreshed; run scripts/test.sh, then commit them" >&2
