#!/usr/bin/env bash
# The test suite against the newest releases that pyproject.toml's ranges allow, in a
# throwaway venv (.venv-latest), ignoring the lock files. Run weekly (see
# .github/workflows/latest.yml) so an upstream release that would break users is seen
# before it reaches them; when it passes, scripts/lock.sh can take the new versions.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .venv-latest
"${PYTHON:-python3}" -m venv .venv-latest
.venv-latest/bin/python -m pip install -q --disable-pip-version-check --upgrade -e ".[test]"
.venv-latest/bin/python -m pip freeze --exclude-editable > .venv-latest/versions.txt
exec .venv-latest/bin/python -m pytest -q "$@"
