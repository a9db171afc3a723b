#!/usr/bin/env bash
# Mutation testing of the pure planning layer (issue 15) with mutmut 3.8.1.
#
#   scripts/mutation.sh                      # the whole layer, from scratch (budget: MAX_MINUTES, 30)
#   RESUME=1 scripts/mutation.sh             # go on where a stopped run left off (same code)
#   RESUME=1 RECHECK=1 scripts/mutation.sh   # same code, tests added: check the survivors again
#   scripts/mutation.sh 'reconciler.planner.seats.*'  # only these mutants (mutmut name globs), reusing
#                                            # mutants/ (rm -rf mutants first after changing code or tests)
#
# What is mutated: every module of the packages the import-linter contract "pure-core" names
# (.importlinter source_modules: today reconciler.planner and reconciler.model). The tests are the
# pure ones (no database): TESTS below. mutmut records which tests reach each mutated function and
# runs only those against a mutant, fastest first, stopping at the first failure.
#
# Prints the surviving mutants, the score per module and, last, exactly one line
# `mutation score: NN.N% (caught/total)`. Exits 1 below MIN_TOTAL % overall, below MIN_MODULE %
# for any module, or when the run was stopped before every mutant was checked (the score then
# covers the checked mutants only and the modules not fully checked are named). Mutants listed
# in scripts/mutation-allow.txt (reviewed equivalent mutants, one reason each) are left out.
# Needs: the venv of requirements/mutation.lock (PY=... to use another interpreter). On a shared
# machine run it as `nice -n 10 scripts/mutation.sh`.
set -euo pipefail

TESTS="tests/planner tests/model"

MIN_TOTAL=${MIN_TOTAL:-90}
MIN_MODULE=${MIN_MODULE:-85}
MAX_CHILDREN=${MAX_CHILDREN:-2}  # parallel mutants; this machine has 2 cores
MAX_MINUTES=${MAX_MINUTES:-30}   # the mutmut run is stopped (and the script fails) after this long
# Property tests: derandomised (tests/conftest.py registers the profile) and a bounded
# number of examples, so every run gives the same score within the time budget.
export HYPOTHESIS_PROFILE=mutation
export PLANNER_EXAMPLES=${PLANNER_EXAMPLES:-60}
export PLAN_FILE_EXAMPLES=${PLAN_FILE_EXAMPLES:-40}
export PYTHONHASHSEED=0

cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
ALLOW=scripts/mutation-allow.txt

# The pure core's packages, from the contract itself, as mutmut only_mutate globs.
MODULES=$("$PY" - <<'PYEOF'
import configparser
cp = configparser.ConfigParser()
cp.read(".importlinter")
mods = cp["importlinter:contract:pure-core"]["source_modules"].split()
print(" ".join(f"{m.replace('.', '/')}/*.py" for m in mods))
PYEOF
)
[ -n "$MODULES" ] || { echo "no pure-core source_modules in .importlinter"; exit 1; }

if [ "$#" -eq 0 ] && [ "${RESUME:-0}" != 1 ]; then
  rm -rf mutants  # a fresh copy: mutmut never refreshes files it has copied before
fi
mkdir -p mutants
if [ "${RESUME:-0}" = 1 ] && [ "${RECHECK:-0}" = 1 ]; then
  # After adding tests (same code): survivors (not allow-listed) become unchecked, so only they run again.
  "$PY" - <<'PYEOF'
import json
from pathlib import Path
allow = Path("scripts/mutation-allow.txt")
listed = {ln.split()[0] for ln in allow.read_text().splitlines() if ln.strip() and not ln.startswith("#")}
for meta in Path("mutants").rglob("*.py.meta"):
    data = json.loads(meta.read_text())
    codes = data["exit_code_by_key"]
    again = [k for k, v in codes.items() if v in (0, 5, 33) and k not in listed]
    for k in again:
        codes[k] = None
    if again:
        meta.write_text(json.dumps(data, indent=4))
PYEOF
fi
TEST_FILES=""
for f in $TESTS; do  # a path that does not exist is left out
  if [ -e "$f" ]; then TEST_FILES="$TEST_FILES $f"; fi
done

echo "mutating: $MODULES"
echo "tests:   $TEST_FILES"
start=$(date +%s)
stopped=0
MUT_MODULES="$MODULES" MUT_TESTS="$TEST_FILES" timeout "${MAX_MINUTES}m" "$PY" - --max-children "$MAX_CHILDREN" "$@" <<'PYEOF' >>mutants/mutation.log 2>&1 || stopped=$?
import os, sys
from mutmut.configuration import config
cfg = config()  # [tool.mutmut] in pyproject.toml, then the script's two lists:
cfg.only_mutate = os.environ["MUT_MODULES"].split()
cfg.pytest_add_cli_args_test_selection = os.environ["MUT_TESTS"].split()
from mutmut.__main__ import cli
cli(["run", *sys.argv[1:]])
PYEOF
elapsed=$(( $(date +%s) - start ))
if [ "$stopped" = 124 ]; then
  echo "mutmut run STOPPED after ${MAX_MINUTES} minutes (${elapsed}s); RESUME=1 $0 goes on (log: mutants/mutation.log)"
elif [ "$stopped" != 0 ]; then
  tail -40 mutants/mutation.log
  echo "mutmut failed (full log: mutants/mutation.log)"
  exit 1
else
  echo "mutmut run: ${elapsed}s (log: mutants/mutation.log)"
fi

MUT_MODULES="$MODULES" "$PY" - "$ALLOW" "$MIN_TOTAL" "$MIN_MODULE" "$#" "$stopped" <<'PYEOF'
import fnmatch, json, os, sys
from collections import defaultdict
from pathlib import Path

allow_file, min_total, min_module = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
restricted = sys.argv[4] != "0"  # mutant names given: score only the mutants checked so far
stopped = sys.argv[5] != "0"  # the run was stopped: likewise, and say which modules are complete
patterns = os.environ["MUT_MODULES"].split()
allowed = {}
for n, line in enumerate(allow_file.read_text().splitlines() if allow_file.exists() else [], 1):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    name, _, reason = line.partition(" ")
    if not reason.strip():
        sys.exit(f"{allow_file}:{n}: {name} has no reason")
    if name in allowed:
        sys.exit(f"{allow_file}:{n}: {name} is listed twice")
    allowed[name] = reason.strip()

CAUGHT = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 37: "type check"}
per_module = defaultdict(lambda: [0, 0, 0])  # caught, total, not checked
survivors, seen, allowed_caught = [], set(), set()
for meta in sorted(Path("mutants").rglob("*.py.meta")):
    src = meta.relative_to("mutants").with_suffix("").as_posix()
    if not any(fnmatch.fnmatch(src, p) for p in patterns):
        continue
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    per_module[src]  # a module without mutants still shows
    for name, code in sorted(codes.items()):
        seen.add(name)
        if name in allowed:
            if code in CAUGHT:
                allowed_caught.add(name)
            continue
        if code is None and (restricted or stopped):
            per_module[src][2] += 1
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
print("\nper module (caught/total):")
bad, partial = [], []
for src, (c, t, unchecked) in sorted(per_module.items()):
    pct = 100.0 * c / t if t else 100.0
    note = f"   ({unchecked} not checked: partial)" if unchecked else ""
    print(f"  {src:40s} {pct:5.1f}% ({c}/{t}){note}")
    if unchecked:
        partial.append(src)
    if pct < min_module:
        bad.append(src)
caught = sum(v[0] for v in per_module.values())
total = sum(v[1] for v in per_module.values())
score = 100.0 * caught / total if total else 0.0
if partial:
    print(f"\nNOT every mutant was checked; complete: {', '.join(s for s in sorted(per_module) if s not in partial) or 'none'}")
if bad:
    print(f"\nbelow {min_module:g} %: {', '.join(bad)}")
if score < min_total:
    print(f"\noverall below {min_total:g} %")
print(f"mutation score: {score:.1f}% ({caught}/{total})")
sys.exit(1 if bad or score < min_total or not total or stopped else 0)
PYEOF
