"""examples/gitops: the CI workflow, the pre-commit hook and the example config are usable as shipped."""

from __future__ import annotations

import re
import shlex
from typing import Any

import click
import pytest
import yaml
from constants import EXAMPLES_DIR, NOW

from reconciler.cli import main

GITOPS = EXAMPLES_DIR / "gitops"
WORKFLOW = GITOPS / ".github" / "workflows" / "reconciler.yml"


def workflow() -> dict[Any, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def triggers(doc: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as True; GitHub reads it as "on".
    on = doc["on"] if "on" in doc else doc[True]
    assert isinstance(on, dict)
    return on


def run_scripts(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def reconciler_invocations(text: str) -> list[list[str]]:
    """Every `reconciler ...` command line in the scripts, split like a shell would."""
    out = []
    for line in text.splitlines():
        m = re.match(r"reconciler\s+([a-z].*)$", line.strip())
        if m:
            cmd = m.group(1).split(">")[0].split("2>")[0]
            out.append(shlex.split(cmd.replace('"${args[@]}"', "")))
    return out


def test_the_workflow_parses_and_runs_on_pull_requests_merges_and_a_schedule() -> None:
    doc = workflow()
    on = triggers(doc)
    assert set(on) >= {"pull_request", "push", "schedule"}
    assert on["push"]["branches"] == ["main"]
    assert doc["jobs"]["plan"]["if"] == "github.event_name == 'pull_request'"
    assert "github.event_name != 'pull_request'" in doc["jobs"]["apply"]["if"]


def test_the_pull_request_job_validates_plans_comments_and_keeps_the_plan() -> None:
    job = workflow()["jobs"]["plan"]
    scripts = run_scripts(job)
    assert 'reconciler validate -c "$CONFIG_DIR"' in scripts
    assert 'reconciler plan -c "$CONFIG_DIR" --format markdown --detailed-exitcode --out plan.json' in scripts
    assert re.search(r"^\s*2\) echo \"changes=true\"", scripts, re.M), "exit 2 means: the plan has changes"
    assert re.search(r"^\s*0\) echo \"changes=false\"", scripts, re.M)
    assert job["permissions"]["pull-requests"] == "write"
    comment = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/github-script"))
    assert "<!-- reconciler-plan -->" in comment["with"]["script"]
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "plan.json" in upload["with"]["path"]
    assert any(s.get("run", "").strip() == "exit 1" for s in job["steps"]), "a failed plan fails the check"


def test_the_merge_job_applies_the_saved_plan_and_publishes_the_audit() -> None:
    job = workflow()["jobs"]["apply"]
    scripts = run_scripts(job)
    assert "--out plan.json" in scripts
    # apply authenticates the saved plan against the merged config (SPEC 7.4): it must read it
    assert 'reconciler apply plan.json -c "$CONFIG_DIR" --auto-approve --actor "$ACTOR"' in scripts
    assert "--approval" in scripts and "approvals/*.approval" in scripts
    assert "reconciler audit verify" in scripts and 'reconciler status --check -c "$CONFIG_DIR"' in scripts
    assert 'reconciler audit --plan "$PLAN_ID" --format json > audit.json' in scripts
    assert "GITHUB_STEP_SUMMARY" in scripts
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "audit.json" in upload["with"]["path"]
    assert job["concurrency"]["cancel-in-progress"] is False


def test_the_database_url_comes_from_a_secret_only() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "${{ secrets.RECONCILER_DB }}" in text
    assert "--db" not in text, "the URL is passed in the environment, never on a command line"


def test_exports_are_never_uploaded() -> None:
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/upload-artifact"):
                assert "export" not in step["with"]["path"]


def test_every_reconciler_command_and_flag_in_the_workflow_exists() -> None:
    calls = reconciler_invocations(
        run_scripts(workflow()["jobs"]["plan"]) + "\n" + run_scripts(workflow()["jobs"]["apply"])
    )
    assert {c[0] for c in calls} == {"validate", "plan", "apply", "audit", "status"}
    for call in calls:
        command: Any = main.commands[call[0]]
        if isinstance(command, click.Group) and len(call) > 1 and call[1] in command.commands:
            command = command.commands[call[1]]
        known = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        used = {arg for arg in call[1:] if arg.startswith("--")}
        assert used <= known, f"{call[0]}: unknown flags {sorted(used - known)}"


def test_the_pre_commit_hook_runs_validate_on_the_config() -> None:
    hooks = yaml.safe_load((GITOPS / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = hooks
    assert hook["id"] == "reconciler-validate"
    assert hook["entry"] == "reconciler validate -c practice"
    assert hook["pass_filenames"] is False
    assert re.match(hook["files"], "practice/staff.yaml") and not re.match(hook["files"], "README.md")
    config = yaml.safe_load((GITOPS / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    ids = [h["id"] for repo in config["repos"] for h in repo["hooks"]]
    assert ids == ["reconciler-validate"]


@pytest.mark.parametrize("name", ["practice.yaml", "staff.yaml", "clients.yaml"])
def test_the_example_config_files_carry_the_schema_modeline(name: str) -> None:
    path = GITOPS / "practice" / name
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    ref = first.split("$schema=", 1)[1]
    assert (path.parent / ref).resolve().is_file()


def test_the_example_config_validates() -> None:
    from reconciler.app.validation import validate_config
    from reconciler.config.loader import load_config

    desired = load_config(GITOPS / "practice")
    problems = validate_config(desired, None, at_text=None, now=NOW)
    assert [str(p) for p in problems if p.severity == "error"] == []
