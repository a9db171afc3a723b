#!/usr/bin/env bash
# Mutation testing of the pure planning layer (issue 15) with mutmut 3.8.1.
#
#   scripts/mutation.sh                     # the whole layer, from scratch (budget: MAX_MINUTES, 30)
#   scripts/mutation.sh 'reconciler.seats.*' # only these mutants (mutmut name globs), reusing mutants/
#                                           # (rm -rf mutants first after changing code or tests)
#
# Prints the surviving mutants, the score per module and, last, exactly one line
# `mutation score: NN.N% (caught/total)`. Exits 1 below MIN_TOTAL % overall or below
# MIN_MODULE % for any module. Mutants listed in scripts/mutation-allow.txt (reviewed
# equivalent mutants, one reason each) are left out of the totals.
# Needs: the venv of requirements/mutation.lock (PY=... to use another interpreter).
set -euo pipefail

# What is mutated (mutmut only_mutate globs, relative to the project root) and which pure
# tests run against it (no database tests): the layers contract calls planner/ and model/ pure.
MODULES="reconciler/planner/*.py reconciler/model/*.py"
TESTS="tests/planner"

MIN_TOTAL=${MIN_TOTAL:-90}
MIN_MODULE=${MIN_MODULE:-85}
MAX_CHILDREN=${MAX_CHILDREN:-2}
MAX_MINUTES=${MAX_MINUTES:-30}  # the mutmut run is stopped (and the script fails) after this long
# Property tests: derandomised (tests/conftest.py registers the profile) and a bounded
# number of examples, so every run gives the same score within the time budget.
export HYPOTHESIS_PROFILE=mutation
export PLANNER_EXAMPLES=${PLANNER_EXAMPLES:-60}
export PYTHONHASHSEED=0

cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
ALLOW=scripts/mutation-allow.txt

if [ "$#" -eq 0 ]; then
  rm -rf mutants  # a fresh copy: mutmut never refreshes files it has copied before
fi
mkdir -p mutants
TEST_FILES=""
for f in $TESTS; do  # globbed; a pattern matching nothing is left out
  if [ -e "$f" ]; then TEST_FILES="$TEST_FILES $f"; fi
done

start=$(date +%s)
MUT_MODULES="$MODULES" MUT_TESTS="$TEST_FILES" timeout "${MAX_MINUTES}m" "$PY" - --max-children "$MAX_CHILDREN" "$@" <<'PYEOF' >mutants/mutation.log 2>&1 || { rc=$?; tail -40 mutants/mutation.log; [ "$rc" = 124 ] && echo "stopped after ${MAX_MINUTES} minutes"; echo "mutmut failed (full log: mutants/mutation.log)"; exit 1; }
import os, sys
from mutmut.configuration import config
cfg = config()  # [tool.mutmut] in pyproject.toml, then the script's two lists:
cfg.only_mutate = os.environ["MUT_MODULES"].split()
cfg.pytest_add_cli_args_test_selection = os.environ["MUT_TESTS"].split()
from mutmut.__main__ import cli
cli(["run", *sys.argv[1:]])
PYEOF
elapsed=$(( $(date +%s) - start ))
echo "mutmut run: ${elapsed}s (log: mutants/mutation.log)"

MUT_MODULES="$MODULES" "$PY" - "$ALLOW" "$MIN_TOTAL" "$MIN_MODULE" "$#" <<'PYEOF'
import fnmatch, json, sys
from collections import defaultdict
from pathlib import Path

allow_file, min_total, min_module = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
restricted = sys.argv[4] != "0"  # mutant names given: score only the mutants checked so far
patterns = __import__("os").environ["MUT_MODULES"].split()
allowed = {}
for n, line in enumerate(allow_file.read_text().splitlines() if allow_file.exists() else [], 1):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    name, _, reason = line.partition(" ")
    if not reason.strip():
        sys.exit(f"{allow_file}:{n}: {name} has no reason")
    allowed[name] = reason.strip()

CAUGHT = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 37: "type check"}
per_module = defaultdict(lambda: [0, 0])  # caught, total
survivors, seen, unchecked, allowed_caught = [], set(), 0, set()
for meta in sorted(Path("mutants").rglob("*.py.meta")):
    src = meta.relative_to("mutants").with_suffix("").as_posix()
    if not any(fnmatch.fnmatch(src, p) for p in patterns):
        continue
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    for name, code in sorted(codes.items()):
        seen.add(name)
        if name in allowed:
            if code in CAUGHT:
                allowed_caught.add(name)
            continue
        if code is None and restricted:
            unchecked += 1
            continue
        per_module[src][1] += 1
        if code in CAUGHT:
            per_module[src][0] += 1
        else:
            status = {0: "survived", 33: "no tests", 5: "no tests", None: "not checked"}.get(code, f"suspicious ({code})")
            survivors.append((name, status))

print(f"\nsurviving mutants ({len(survivors)}; `mutmut show NAME` shows one):")
for name, status in survivors:
    print(f"  {name}: {status}")
print(f"\nallow-listed as equivalent ({len(allowed)}, {allow_file}):")
for name, reason in sorted(allowed.items()):
    note = "   [STALE: no such mutant]" if name not in seen else "   [CAUGHT: not equivalent, remove it]" if name in allowed_caught else ""
    print(f"  {name}: {reason}{note}")
if restricted:
    print(f"\nrestricted run: {unchecked} mutants not checked are left out of the scores")
print("\nper module:")
bad = []
for src, (c, t) in sorted(per_module.items()):
    pct = 100.0 * c / t if t else 100.0
    print(f"  {src:36s} {pct:5.1f}% ({c}/{t})")
    if pct < min_module:
        bad.append(src)
caught = sum(c for c, _ in per_module.values())
total = sum(t for _, t in per_module.values())
score = 100.0 * caught / total if total else 0.0
if bad:
    print(f"\nbelow {min_module:g} %: {', '.join(bad)}")
if score < min_total:
    print(f"\noverall below {min_total:g} %")
print(f"mutation score: {score:.1f}% ({caught}/{total})")
sys.exit(1 if bad or score < min_total or not total else 0)
PYEOF
