"""Operations material shipped in examples/: the Prometheus alert rules
(examples/monitoring) and the systemd unit for ``watch`` (examples/systemd), and the
README section that documents them."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from constants import EXAMPLES_DIR, ROOT

from reconciler.app.metrics import WatchMetrics

MONITORING = EXAMPLES_DIR / "monitoring"
UNIT = EXAMPLES_DIR / "systemd" / "reconciler-watch.service"
SCRIPT = Path(sys.executable).parent / "reconciler"
RULES = {
    "ReconcilerLeaveDatePassedAccountActive",
    "ReconcilerNoSuccessfulReconcile",
    "ReconcilerWatchDown",
    "ReconcilerConfigErrors",
}


def exported_names() -> set[str]:
    """Every sample name the watch exposes (the same a scrape shows)."""
    from prometheus_client.parser import text_string_to_metric_families

    m = WatchMetrics(60.0)
    m.compliance_checked([])
    return {s.name for f in text_string_to_metric_families(m.exposition().decode()) for s in f.samples}


# ---------------------------------------------------------------- alert rules


def test_the_alert_rules_are_yaml_with_the_expected_rules() -> None:
    doc = yaml.safe_load((MONITORING / "alerts.yml").read_text(encoding="utf-8"))
    rules = {r["alert"]: r for g in doc["groups"] for r in g["rules"]}
    assert set(rules) == RULES
    assert 'kind=~"leave_date_passed|config_says_inactive"' in rules["ReconcilerLeaveDatePassedAccountActive"]["expr"]
    assert "> 3600" in rules["ReconcilerNoSuccessfulReconcile"]["expr"], "no successful reconcile for an hour"
    for rule in rules.values():
        assert {"expr", "labels", "annotations"} <= set(rule)
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}


def test_the_alert_rules_use_metrics_the_watch_exports() -> None:
    names = exported_names()
    text = (MONITORING / "alerts.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\breconciler_[a-z_]+", text))
    assert used, "the rules use reconciler metrics"
    assert used <= names, used - names


def test_promtool_checks_and_unit_tests_the_alert_rules() -> None:
    check = subprocess.run(["promtool", "check", "rules", "alerts.yml"], cwd=MONITORING, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in check.stdout
    unit = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"], cwd=MONITORING, capture_output=True, text=True
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr


# ---------------------------------------------------------------- systemd unit


def unit_sections() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def exec_start_args() -> list[str]:
    raw = unit_sections()["Service"]["ExecStart"]
    return shlex.split(raw.replace("\\\n", " ").replace("\\", " "))


def test_the_unit_is_hardened_and_restarts_on_failure() -> None:
    unit = unit_sections()
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    svc = unit["Service"]
    assert svc.get("DynamicUser") == "yes" or svc.get("User") not in (None, "", "root")
    assert svc["ProtectSystem"] == "strict"
    assert svc["NoNewPrivileges"] == "yes"
    assert svc["PrivateTmp"] == "yes"
    assert svc["Restart"] == "on-failure"
    assert svc["EnvironmentFile"].lstrip("-").startswith("/etc/")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    args = exec_start_args()
    export_dir = args[args.index("--export-dir") + 1]
    assert export_dir in svc["ReadWritePaths"].split(), "the export directory is writable"
    assert "RECONCILER_DB" in UNIT.read_text(encoding="utf-8"), "the database URL comes from the environment file"


def test_the_units_command_line_is_one_reconciler_accepts() -> None:
    from reconciler.cli import main

    args = exec_start_args()
    assert Path(args[0]).name == "reconciler" and args[1] == "watch"
    assert "--metrics-addr" in args and ("-c" in args or "--git" in args)
    watch = main.commands["watch"]  # type: ignore[attr-defined]
    ctx = watch.make_context("watch", args[2:])  # parses every option, runs nothing
    assert ctx.params["metrics_addr"] == "127.0.0.1:9464"
    assert ctx.params["auto_apply"] is True and ctx.params["log_format"] == "json"


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    assert SCRIPT.exists(), "the reconciler console script must be installed next to this Python"
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: scripts/test.sh installs Debian's systemd"
    # verify checks that ExecStart's program exists: point it at this installation.
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(exec_start_args()[0], str(SCRIPT)), encoding="utf-8")
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # verify reports unknown keys and bad values as warnings (exit 0): there must be none.
    assert [line for line in out.stderr.splitlines() if UNIT.name in line] == []


# ---------------------------------------------------------------- README


def test_the_readme_documents_monitoring_and_completion() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Monitoring watch", 1)[1].split("\n## ", 1)[0]
    for name in (
        "reconciler_last_success_timestamp_seconds",
        "reconciler_cycle_duration_seconds",
        "reconciler_planned_actions",
        "reconciler_drift_actions_pending",
        "reconciler_applies_total",
        "reconciler_compliance_violations",
        "reconciler_leader",
        "reconciler_config_errors_total",
    ):
        assert name in section, name
    assert "--metrics-addr" in section and "/healthz" in section
    assert "examples/monitoring/alerts.yml" in section and "examples/systemd/reconciler-watch.service" in section
    for shell in ("bash", "zsh", "fish"):
        assert f"_RECONCILER_COMPLETE={shell}_source reconciler" in readme
