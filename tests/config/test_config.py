"""The config loader: safe YAML with lines, bounded aliases, merging, located errors."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from constants import EXAMPLES_DIR

from reconciler.config.loader import MarkedMap, MarkedSeq, load_config, safe_load_marked
from reconciler.errors import ConfigError, Problem
from reconciler.model.desired import ExportFormat, Role

STAFF = """\
version: 1
staff:
  - id: alee
    role: owner
  - id: bsmith
    role: clinician
"""


def make_config(root: Path, files: dict[str, str]) -> Path:
    """A config directory ``root/cfg`` holding ``files`` (relative path -> text)."""
    cfg = root / "cfg"
    for rel, text in files.items():
        path = cfg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    cfg.mkdir(exist_ok=True)
    return cfg


def marked_line(text: str) -> int:
    """The 1-based line of ``text`` that carries the ``# <-`` marker."""
    for number, line in enumerate(text.splitlines(), start=1):
        if "# <-" in line:
            return number
    raise AssertionError("test case has no '# <-' marker")


def only_problem(exc: pytest.ExceptionInfo[ConfigError]) -> Problem:
    problems = exc.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# ---------------------------------------------------------------- one located error per mistake
# (id, file text with "# <-" on the offending line, field path, message fragment)
SCHEMA_CASES = [
    (
        "unknown role",
        "version: 1\nstaff:\n  - id: alee\n  - id: bsmith\n    role: clinican  # <-\n",
        "staff[1].role",
        "Input should be 'owner'",
    ),
    (
        "unknown key in a staff entry",
        "version: 1\nstaff:\n  - id: bsmith\n    rolee: clinician  # <-\n",
        "staff[0].rolee",
        "Extra inputs are not permitted",
    ),
    (
        "staff entry without id",
        "version: 1\nstaff:\n  - {id: alee}\n  - {name: Beth Smith}  # <-\n",
        "staff[1].id",
        "Field required",
    ),
    ("unknown top-level key", "version: 1\nstaf: []  # <-\n", "staf", "Extra inputs are not permitted"),
    ("version missing", "practice: {timezone: UTC}  # <-\n", "version", "Field required"),
    ("version 2", "version: 2  # <-\n", "version", "Input should be 1"),
    (
        "unknown client status",
        "version: 1\nclients:\n  - {id: C-1, status: gone}  # <-\n",
        "clients[0].status",
        "Input should be 'active', 'inactive' or 'deleted'",
    ),
    ("bad staff id slug", "version: 1\nstaff:\n  - id: b smith  # <-\n", "staff[0].id", "should match pattern"),
    (
        "active not a boolean",
        "version: 1\nstaff:\n  - id: bsmith\n    active: maybe  # <-\n",
        "staff[0].active",
        "valid boolean",
    ),
    (
        "deactivate_on not a date",
        "version: 1\nstaff:\n  - id: bsmith\n    deactivate_on: soon  # <-\n",
        "staff[0].deactivate_on",
        "valid date",
    ),
    (
        "unknown policy field value",
        "version: 1\npolicies:\n  - name: p\n    future_sessions: keep  # <-\n",
        "policies[0].future_sessions",
        "Input should be 'cancel' or 'transfer'",
    ),
    (
        "unknown unmanaged_staff value",
        "version: 1\npractice:\n  unmanaged_staff: delete  # <-\n",
        "practice.unmanaged_staff",
        "Input should be 'ignore', 'report' or 'deactivate'",
    ),
    ("staff not a list", "version: 1\nstaff: bsmith  # <-\n", "staff", "valid list"),
]


@pytest.mark.parametrize(("text", "field", "message"), [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES])
def test_schema_error_is_one_located_problem(tmp_path: Path, text: str, field: str, message: str) -> None:
    cfg = make_config(tmp_path, {"practice/staff.yaml": text})
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    problem = only_problem(exc)
    assert problem.location.file == f"{cfg.as_posix()}/practice/staff.yaml"
    assert problem.location.line == marked_line(text)
    assert problem.location.field == field
    assert message in problem.message
    assert str(problem).startswith(f"{cfg.as_posix()}/practice/staff.yaml:{marked_line(text)}: {field}: ")


# (id, file text with "# <-" on the offending line, message fragment)
YAML_CASES = [
    (
        "python object tag",
        "version: 1\nx: !!python/object/apply:os.system [echo hi]  # <-\n",
        "tag !!python/object/apply:os.system is not allowed",
    ),
    (
        "python name tag on a key's value",
        "version: 1\nstaff:\n  - id: !!python/name:os.system  # <-\n",
        "tag !!python/name:os.system is not allowed",
    ),
    ("custom local tag", "version: 1\npractice: !practice {name: X}  # <-\n", "tag !practice is not allowed"),
    ("binary tag", "version: 1\nx: !!binary aGk=  # <-\n", "tag !!binary is not allowed"),
    ("set tag on a mapping", "version: 1\nx: !!set {a: null}  # <-\n", "tag !!set is not allowed"),
    ("syntax error", "version: 1\nstaff:\n  - id: a\n   role: x  # <-\n", "invalid YAML"),
    ("duplicate key", "version: 1\nstaff: []\nstaff: []  # <-\n", "duplicate key 'staff' (first written on line 2)"),
    ("recursive alias", "version: 1\nx: &a\n  - *a  # <-\n", "recursive YAML alias *a"),
    ("undefined alias", "version: 1\nx: *nowhere  # <-\n", "names no anchor"),
    ("second document", "version: 1\n---  # <-\nversion: 1\n", "expected a single YAML document"),
    (
        "impossible date",
        "version: 1\nstaff:\n  - id: a\n    deactivate_on: 2026-13-40  # <-\n",
        "invalid !!timestamp value '2026-13-40'",
    ),
    ("non-string key", "version: 1\n1: x  # <-\n", "mapping key 1 must be a string"),
    ("deep nesting", "version: 1\nx: " + "[" * 100 + "]" * 100 + "  # <-\n", "nested deeper than"),
    (
        "very deep nesting does not crash the parser",
        "version: 1\nx: " + "[" * 200_000 + "]" * 200_000 + "  # <-\n",
        "nested deeper than",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_unsafe_or_broken_yaml_is_one_located_problem(tmp_path: Path, text: str, message: str) -> None:
    cfg = make_config(tmp_path, {"a.yaml": text})
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    problem = only_problem(exc)
    assert (problem.location.file, problem.location.line) == (f"{cfg.as_posix()}/a.yaml", marked_line(text))
    assert message in problem.message


@pytest.mark.parametrize(
    ("text", "what"),
    [("", "empty"), ("# nothing but a comment\n", "empty"), ("- version: 1\n", "a seq"), ("just text\n", "a str")],
    ids=["empty file", "comment only", "a list", "a scalar"],
)
def test_a_file_must_be_one_mapping(tmp_path: Path, text: str, what: str) -> None:
    cfg = make_config(tmp_path, {"a.yaml": text})
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    problem = only_problem(exc)
    assert problem.location.line == 1
    assert f"the file is {what}" in problem.message


def test_alias_bomb_is_rejected_quickly(tmp_path: Path) -> None:
    lines = ["version: 1", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    cfg = make_config(tmp_path, {"bomb.yaml": "\n".join(lines) + "\n"})
    started = time.monotonic()
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert time.monotonic() - started < 5  # sanity bound only: an unbounded expansion never ends
    problem = only_problem(exc)
    assert "alias expansion is bounded" in problem.message
    assert problem.location.file == f"{cfg.as_posix()}/bomb.yaml"


def test_anchors_aliases_and_merge_keys_work() -> None:
    text = (
        "version: 1\n"
        "x-defaults: &clinician {role: clinician, access: assigned_clients}\n"
        "staff:\n"
        "  - {<<: *clinician, id: bsmith}\n"
        "  - {<<: *clinician, id: jdoe, access: scheduling_only}\n"
    )
    data = safe_load_marked(text, "f.yaml")
    assert data["staff"][0] == {"id": "bsmith", "role": "clinician", "access": "assigned_clients"}
    assert data["staff"][1] == {"id": "jdoe", "role": "clinician", "access": "scheduling_only"}
    assert data["staff"][1].key_lines["access"] == 5  # the explicit key, not the merged one


def test_aliased_staff_entries_load(tmp_path: Path) -> None:
    text = "version: 1\nstaff:\n  - &base {id: bsmith, role: clinician}\nclients:\n  - {id: C-1, primary: bsmith}\n"
    desired = load_config(make_config(tmp_path, {"a.yaml": text}))
    assert [s.role for s in desired.staff] == [Role.CLINICIAN]


def test_safe_load_marked_keeps_lines_of_keys_and_items() -> None:
    data = safe_load_marked("version: 1\nstaff:\n  - id: a\n\n  - id: b\n    role: owner\n", "f.yaml")
    assert isinstance(data, MarkedMap) and isinstance(data["staff"], MarkedSeq)
    assert data.key_lines == {"version": 1, "staff": 2}
    assert data["staff"].item_lines == [3, 5]
    assert data["staff"][1].key_lines == {"id": 5, "role": 6}


def test_scalars_follow_yaml_safe_load() -> None:
    import datetime as dt

    data = safe_load_marked("a: 2026-12-31\nb: yes\nc: 012\nd: '1'\ne: ~\nf: 1.5\ng: !!str 3\n", "f.yaml")
    assert data == {"a": dt.date(2026, 12, 31), "b": True, "c": 10, "d": "1", "e": None, "f": 1.5, "g": "3"}


# ---------------------------------------------------------------- merging and duplicates
def test_lists_merge_across_files_in_sorted_order(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path,
        {
            "b/clients.yaml": "version: 1\nclients:\n  - {id: C-2, status: inactive}\n",
            "a.yaml": "version: 1\npractice: {timezone: UTC, owner: alee}\nstaff:\n  - {id: alee}\n",
            "b/more.yml": "version: 1\nstaff:\n  - {id: bsmith, successor: alee}\nclients:\n  - {id: C-1}\n",
        },
    )
    desired = load_config(cfg)
    assert [s.id for s in desired.staff] == ["alee", "bsmith"]
    assert [c.id for c in desired.clients] == ["C-2", "C-1"]  # b/clients.yaml sorts before b/more.yml
    assert desired.practice.owner == "alee"
    base = cfg.as_posix()
    assert str(desired.where("staff:bsmith")) == f"{base}/b/more.yml:3: staff[0]"
    assert str(desired.where("staff:bsmith.successor")) == f"{base}/b/more.yml:3: staff[0].successor"
    assert str(desired.where("client:C-2")) == f"{base}/b/clients.yaml:3: clients[0]"
    assert str(desired.where("practice")) == f"{base}/a.yaml:2: practice"
    assert str(desired.where("practice.owner")) == f"{base}/a.yaml:2: practice.owner"
    assert desired.source == str(cfg)


@pytest.mark.parametrize(
    ("files", "kind", "ident"),
    [
        ({"a.yaml": STAFF, "b.yaml": "version: 1\nstaff:\n  - id: bsmith  # <-\n"}, "staff", "bsmith"),
        (
            {
                "a.yaml": "version: 1\nclients:\n  - {id: C-1}\n",
                "b.yaml": "version: 1\nclients:\n  - {id: C-2}\n  - {id: C-1}  # <-\n",
            },
            "client",
            "C-1",
        ),
        (
            {
                "a.yaml": "version: 1\npolicies:\n  - {name: p}\n",
                "b.yaml": "version: 1\npolicies:\n  - {name: p, export: csv}  # <-\n",
            },
            "policy",
            "p",
        ),
        (
            {
                "a.yaml": "version: 1\npractice: {timezone: UTC}\n",
                "b.yaml": "version: 1\npractice: {owner: alee}  # <-\n",
            },
            "practice",
            None,
        ),
    ],
    ids=["staff id in two files", "client id in two files", "policy name in two files", "practice in two files"],
)
def test_declared_twice_names_both_places(tmp_path: Path, files: dict[str, str], kind: str, ident: str | None) -> None:
    cfg = make_config(tmp_path, files)
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    problem = only_problem(exc)
    second_line = marked_line(files["b.yaml"])
    first_key = f"{kind}:{ident}" if ident else kind
    first_line = {"staff:bsmith": 5, "client:C-1": 3, "policy:p": 3, "practice": 2}[first_key]
    base = cfg.as_posix()
    assert (problem.location.file, problem.location.line) == (f"{base}/b.yaml", second_line)
    assert f"{base}/a.yaml:{first_line} and {base}/b.yaml:{second_line}" in problem.message


def test_same_id_twice_in_one_file_names_both_lines(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, {"a.yaml": "version: 1\nstaff:\n  - id: x\n  - id: y\n  - id: x\n"})
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert f"{cfg.as_posix()}/a.yaml:3 and {cfg.as_posix()}/a.yaml:5" in only_problem(exc).message


def test_all_problems_of_all_files_are_reported_together(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path,
        {
            "a.yaml": "version: 1\nstaff:\n  - {id: a, role: boss}\n",
            "b.yaml": "version: 1\nx: !!python/object:os.system y\n",
            "c.yaml": "version: 1\nclients:\n  - {id: C-1, status: gone}\n",
            "d.yaml": "version: 1\nstaff:\n  - {id: ok}\n",
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    places = sorted((Path(p.location.file or "").name, p.location.line) for p in exc.value.problems)
    assert places == [("a.yaml", 3), ("b.yaml", 2), ("c.yaml", 3)]
    assert str(exc.value).startswith(f"3 problems in config {cfg}")


# ---------------------------------------------------------------- built-in policies
def test_builtin_policies_are_available_without_copying(tmp_path: Path) -> None:
    desired = load_config(make_config(tmp_path, {"a.yaml": STAFF}))
    names = [p.name for p in desired.policies]
    assert {"standard", "handover"} <= set(names) and names == sorted(names)
    handover = desired.policy("handover")
    assert handover is not None and handover.export is ExportFormat.FHIR
    assert desired.where("policy:standard").file == "<built-in>/policies/standard.yaml"


def test_config_policy_overrides_builtin_of_same_name(tmp_path: Path) -> None:
    text = "version: 1\npolicies:\n  - name: standard\n    export: csv\n"
    cfg = make_config(tmp_path, {"a.yaml": text})
    desired = load_config(cfg)
    standard = desired.policy("standard")
    assert standard is not None and standard.export is ExportFormat.CSV
    assert [p.name for p in desired.policies].count("standard") == 1
    assert str(desired.where("policy:standard")) == f"{cfg.as_posix()}/a.yaml:3: policies[0]"
    # a field the config policy does not write is not located in the built-in file any more
    assert desired.where("policy:standard.cancel_reason").file == f"{cfg.as_posix()}/a.yaml"


# ---------------------------------------------------------------- the directory
def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope")


def test_directory_without_yaml_is_an_error(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, {"README.md": "# hi\n", ".hidden/a.yaml": STAFF})
    with pytest.raises(ConfigError, match="no \\*.yaml files"):
        load_config(cfg)


def test_hidden_directories_are_skipped(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, {"a.yaml": STAFF, ".github/workflows/ci.yml": "on: push\n"})
    assert [s.id for s in load_config(cfg).staff] == ["alee", "bsmith"]


def test_config_digest_tracks_names_and_bytes_not_location(tmp_path: Path) -> None:
    one = make_config(tmp_path / "1", {"a.yaml": STAFF, "b.yaml": "version: 1\n"})
    two = make_config(tmp_path / "2", {"a.yaml": STAFF, "b.yaml": "version: 1\n"})
    renamed = make_config(tmp_path / "3", {"a.yaml": STAFF, "c.yaml": "version: 1\n"})
    edited = make_config(tmp_path / "4", {"a.yaml": STAFF, "b.yaml": "version: 1  # edited\n"})
    digests = [load_config(d).config_digest for d in (one, two, renamed, edited)]
    assert digests[0].startswith("sha256:") and len(digests[0]) == 7 + 64
    assert digests[0] == digests[1]
    assert len({digests[0], digests[2], digests[3]}) == 3


def test_large_config_loads(tmp_path: Path) -> None:
    lines = ["version: 1", "staff:"]
    for i in range(2000):
        lines += [f"  - id: s{i}", f"    name: Staff {i}", "    role: clinician", f"    successor: s{(i + 1) % 2000}"]
    desired = load_config(make_config(tmp_path, {"a.yaml": "\n".join(lines) + "\n"}))
    assert len(desired.staff) == 2000
    assert desired.where("staff:s1999.successor").line == 2 + 1999 * 4 + 4


def test_examples_copy_loads_the_same_from_elsewhere(tmp_path: Path) -> None:
    src = EXAMPLES_DIR / "scheduled"
    shutil.copytree(src, tmp_path / "scheduled")
    assert load_config(tmp_path / "scheduled").config_digest == load_config(src).config_digest


def test_an_oversized_file_is_one_located_error_without_parsing_it(tmp_path: Path) -> None:
    from reconciler.config.loader import MAX_FILE_BYTES

    (tmp_path / "a.yaml").write_text("version: 1\n")
    (tmp_path / "big.yaml").write_text("version: 1\n# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    (problem,) = exc.value.problems
    assert problem.location.file.endswith("big.yaml") and problem.location.line == 1
    assert "limited to 8 MiB" in problem.message
