"""SPEC §7.2: signed deletion approvals (reconciler.security.approval)."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pytest
import yaml
from trust_keys import NAMESPACE, keygen, pub, requires_ssh_keygen, ssh_sign, ssh_verify

from reconciler.errors import PlanRefused, ReconcilerError
from reconciler.security import approval as ap
from reconciler.security.approval import (
    Approval,
    ApprovalClientNotCovered,
    ApprovalError,
    ApprovalExpired,
    ApprovalKeyNotListed,
    ApprovalMalformed,
    ApprovalSignerNotAuthorised,
    ApprovalTampered,
    ApprovalWrongNamespace,
    ApprovalWrongPractice,
    InvalidDuration,
    check_approval,
    make_approval,
    parse_duration,
    render_document,
    split_approval,
)

pytestmark = requires_ssh_keygen
UTC = dt.UTC
CREATED = dt.datetime(2026, 12, 2, 15, 30, 0, tzinfo=UTC)
EXPIRES = CREATED + dt.timedelta(days=7)
NOW = CREATED + dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("approval-keys")
    return {name: keygen(d, name) for name in ("alee", "alee2", "bsmith", "mallory")}


def staff_keys(keys: dict[str, Path]) -> dict[str, list[str]]:
    return {
        "alee": [pub(keys["alee2"]), pub(keys["alee"])],
        "bsmith": [pub(keys["bsmith"])],
        "nokeys": [],
    }


def approve(
    keys: dict[str, Path],
    *,
    signer: str = "alee",
    key: str = "alee",
    clients: Collection[str] = ("C-1001", "C-1002"),
    practice: str = "acme",
    expires: dt.datetime = EXPIRES,
) -> str:
    return make_approval(practice, clients, signer, expires, keys[key], created_at=CREATED)


def check(
    text: str | bytes,
    keys: dict[str, Path],
    *,
    needed: Collection[str] = ("C-1001",),
    may_delete: Callable[[str], bool] | Collection[str] = frozenset({"alee"}),
    now: dt.datetime = NOW,
    practice: str = "acme",
    signature: str | None = None,
) -> Approval:
    return check_approval(
        text,
        practice=practice,
        client_ids_needed=needed,
        staff_keys=staff_keys(keys),
        staff_may_delete=may_delete,
        now=now,
        signature=signature,
    )


# ---------------------------------------------------------------------------- the document


def test_document_is_deterministic_sorted_and_yaml() -> None:
    doc = render_document(
        "acme",
        ["C-2", "C-10", "C-1", "C-2"],
        "alee",
        EXPIRES,
        CREATED.replace(microsecond=123),
    )
    assert doc == render_document("acme", ["C-1", "C-10", "C-2"], "alee", EXPIRES, CREATED)
    assert yaml.safe_load(doc) == {
        "kind": "reconciler-deletion-approval",
        "version": 1,
        "practice": "acme",
        "signer": "alee",
        "clients": ["C-1", "C-10", "C-2"],
        "created": "2026-12-02T15:30:00Z",
        "expires": "2026-12-09T15:30:00Z",
    }
    assert doc.endswith("\n") and doc.startswith("# reconciler deletion approval")


def test_approval_file_is_document_then_signature_over_exactly_its_bytes(keys: dict[str, Path], tmp_path: Path) -> None:
    text = approve(keys)
    document, signature = split_approval(text)
    assert text == document.decode() + signature
    assert signature.startswith("-----BEGIN SSH SIGNATURE-----\n")
    result = ssh_verify(pub(keys["alee"]), document, signature, tmp_path)
    assert result.returncode == 0, result.stderr


def test_valid_approval_is_accepted(keys: dict[str, Path]) -> None:
    got = check(approve(keys), keys, needed=["C-1001", "C-1002"])
    assert got.practice == "acme" and got.signer == "alee" and got.clients == ("C-1001", "C-1002")
    assert got.expires == EXPIRES and got.created == CREATED
    assert got.key == pub(keys["alee"]) and got.fingerprint.startswith("SHA256:")
    assert got.covers("C-1001") and not got.covers("C-9")


def test_bytes_input_and_predicate_role_check(keys: dict[str, Path]) -> None:
    assert check(approve(keys).encode(), keys, may_delete=lambda s: s == "alee").signer == "alee"


def test_approval_made_with_plain_ssh_keygen_is_accepted(keys: dict[str, Path], tmp_path: Path) -> None:
    """The docstring's recipe: write the document, ssh-keygen -Y sign it, cat both."""
    doc = render_document("acme", ["C-1001"], "alee", EXPIRES, CREATED).encode()
    (tmp_path / "approval.yaml").write_bytes(doc)
    subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "sign",
            "-n",
            NAMESPACE,
            "-f",
            str(keys["alee"]),
            str(tmp_path / "approval.yaml"),
        ],
        check=True,
        capture_output=True,
    )
    combined = doc + (tmp_path / "approval.yaml.sig").read_bytes()
    assert check(combined, keys).signer == "alee"
    # detached form: document and .sig given separately
    assert check(doc, keys, signature=(tmp_path / "approval.yaml.sig").read_text()).signer == "alee"


def test_hand_written_document_signed_by_ssh_keygen_is_accepted(keys: dict[str, Path], tmp_path: Path) -> None:
    doc = (
        b"kind: reconciler-deletion-approval\nversion: 1\npractice: acme\nsigner: alee\n"
        b"clients: [C-1001]\ncreated: '2026-12-02T15:30:00Z'\nexpires: '2026-12-09T15:30:00Z'\n"
    )
    assert check(doc + ssh_sign(keys["alee"], doc, tmp_path).encode(), keys).clients == ("C-1001",)


# ---------------------------------------------------------------------------- refusals, one per rule


def test_tampered_client_list_is_refused(keys: dict[str, Path]) -> None:
    forged = approve(keys, clients=["C-1001"]).replace('"C-1001"', '"C-1003"')
    with pytest.raises(ApprovalTampered, match="altered"):
        check(forged, keys, needed=["C-1003"])


def test_tampered_expiry_is_refused(keys: dict[str, Path]) -> None:
    forged = approve(keys).replace("2026-12-09", "2027-12-09")
    with pytest.raises(ApprovalTampered):
        check(forged, keys)


def test_crlf_conversion_counts_as_tampering(keys: dict[str, Path]) -> None:
    document, signature = split_approval(approve(keys))
    with pytest.raises(ApprovalTampered):
        check(document.replace(b"\n", b"\r\n") + signature.encode(), keys)


def test_expired_is_refused(keys: dict[str, Path]) -> None:
    text = approve(keys)
    with pytest.raises(ApprovalExpired, match="2026-12-09T15:30:00Z"):
        check(text, keys, now=EXPIRES)
    with pytest.raises(ApprovalExpired):
        check(text, keys, now=(EXPIRES + dt.timedelta(seconds=1)).replace(tzinfo=None))
    assert check(text, keys, now=EXPIRES - dt.timedelta(seconds=1))


def test_signer_whose_role_may_not_delete_is_refused(keys: dict[str, Path]) -> None:
    text = approve(keys, signer="bsmith", key="bsmith")
    with pytest.raises(ApprovalSignerNotAuthorised, match="staff bsmith"):
        check(text, keys)


def test_key_not_listed_for_the_named_signer_is_refused(keys: dict[str, Path]) -> None:
    """bsmith's key signing a document that names alee as signer."""
    with pytest.raises(ApprovalKeyNotListed, match="signing_keys of staff alee"):
        check(approve(keys, signer="alee", key="bsmith"), keys)


def test_unknown_key_is_refused(keys: dict[str, Path]) -> None:
    with pytest.raises(ApprovalKeyNotListed, match="SHA256:"):
        check(approve(keys, key="mallory"), keys)


@pytest.mark.parametrize("signer", ["nokeys", "ghost"])
def test_signer_without_listed_keys_is_refused(signer: str, keys: dict[str, Path]) -> None:
    with pytest.raises(ApprovalKeyNotListed):
        check(approve(keys, signer=signer), keys, may_delete={signer})


def test_second_listed_key_of_a_signer_is_accepted(keys: dict[str, Path]) -> None:
    assert check(approve(keys, key="alee2"), keys).key == pub(keys["alee2"])


def test_client_not_covered_is_refused_naming_ids_only(keys: dict[str, Path]) -> None:
    with pytest.raises(ApprovalClientNotCovered) as err:
        check(
            approve(keys, clients=["C-1001"]),
            keys,
            needed=["C-1001", "C-1005", "C-1004"],
        )
    assert str(err.value) == "approval does not cover client C-1004, C-1005"


def test_wrong_practice_is_refused(keys: dict[str, Path]) -> None:
    with pytest.raises(ApprovalWrongPractice):
        check(approve(keys, practice="other-practice"), keys)


def test_wrong_namespace_is_refused(keys: dict[str, Path], tmp_path: Path) -> None:
    doc = render_document("acme", ["C-1001"], "alee", EXPIRES, CREATED).encode()
    with pytest.raises(ApprovalWrongNamespace):
        check(doc + ssh_sign(keys["alee"], doc, tmp_path, namespace="git").encode(), keys)


def _signed(doc: str, keys: dict[str, Path]) -> str:
    from reconciler.security import sshsig

    return doc + sshsig.sign(doc.encode(), keys["alee"], NAMESPACE)


_GOOD = (
    "kind: reconciler-deletion-approval\nversion: 1\npractice: acme\nsigner: alee\n"
    "clients: [C-1001]\ncreated: '2026-12-02T15:30:00Z'\nexpires: '2026-12-09T15:30:00Z'\n"
)


@pytest.mark.parametrize(
    ("label", "doc"),
    [
        ("not a mapping", "- a\n- b\n"),
        ("not YAML", "kind: [unclosed\n"),
        ("missing field", _GOOD.replace("signer: alee\n", "")),
        ("extra field", _GOOD + "note: hi\n"),
        ("duplicate key", _GOOD + "practice: other\n"),
        (
            "wrong kind",
            _GOOD.replace("kind: reconciler-deletion-approval", "kind: other"),
        ),
        ("wrong version", _GOOD.replace("version: 1", "version: 2")),
        ("boolean version", _GOOD.replace("version: 1", "version: true")),
        ("clients not a list", _GOOD.replace("[C-1001]", "C-1001")),
        ("empty clients", _GOOD.replace("[C-1001]", "[]")),
        ("duplicate client", _GOOD.replace("[C-1001]", "[C-1001, C-1001]")),
        ("client id with a name", _GOOD.replace("[C-1001]", "['Jane Doe']")),
        ("signer not an id", _GOOD.replace("signer: alee", "signer: 'a b'")),
        (
            "unquoted time (YAML datetime)",
            _GOOD.replace("'2026-12-09T15:30:00Z'", "2026-12-09T15:30:00Z"),
        ),
        (
            "time with offset",
            _GOOD.replace("2026-12-09T15:30:00Z", "2026-12-09T15:30:00+01:00"),
        ),
        ("impossible date", _GOOD.replace("2026-12-09", "2026-02-30")),
        ("expires before created", _GOOD.replace("2026-12-09", "2026-12-01")),
        (
            "python tag",
            _GOOD.replace("practice: acme", "practice: !!python/object:os.system acme"),
        ),
    ],
)
def test_malformed_document_is_refused(label: str, doc: str, keys: dict[str, Path]) -> None:
    with pytest.raises(ApprovalMalformed):
        check(_signed(doc, keys), keys)


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("no signature", _GOOD),
        ("broken armor", _GOOD + "-----BEGIN SSH SIGNATURE-----\nxx\n"),
        (
            "bad base64",
            _GOOD + "-----BEGIN SSH SIGNATURE-----\n!!\n-----END SSH SIGNATURE-----\n",
        ),
        ("empty", ""),
        ("binary", "\udcff"),
    ],
)
def test_malformed_signature_is_refused(label: str, text: str, keys: dict[str, Path]) -> None:
    data = text.encode("utf-8", "surrogateescape")
    with pytest.raises(ApprovalMalformed):
        check(data, keys)


def test_too_large_is_malformed(keys: dict[str, Path]) -> None:
    with pytest.raises(ApprovalMalformed, match="too large"):
        check(b"#" * (2 << 20), keys)


def test_every_refusal_is_a_plan_refusal_with_a_reason_code() -> None:
    reasons = {
        cls.reason
        for cls in (
            ApprovalMalformed,
            ApprovalTampered,
            ApprovalWrongNamespace,
            ApprovalKeyNotListed,
            ApprovalSignerNotAuthorised,
            ApprovalWrongPractice,
            ApprovalExpired,
            ApprovalClientNotCovered,
        )
    }
    assert reasons == {
        "malformed",
        "tampered",
        "wrong-namespace",
        "key-not-listed",
        "signer-not-authorised",
        "wrong-practice",
        "expired",
        "client-not-covered",
    }
    assert issubclass(ApprovalError, PlanRefused) and issubclass(ApprovalError, ReconcilerError)


# ---------------------------------------------------------------------------- making approvals


@pytest.mark.parametrize(
    ("label", "kwargs"),
    [
        ("no clients", {"clients": []}),
        ("client name instead of id", {"clients": ["Jane Doe"]}),
        ("bad practice id", {"practice": "acme practice"}),
        ("expiry not after creation", {"expires": CREATED}),
    ],
)
def test_make_approval_refuses_bad_input(label: str, kwargs: dict[str, Any], keys: dict[str, Path]) -> None:
    with pytest.raises(ApprovalMalformed):
        approve(keys, **kwargs)


def test_make_approval_with_unreadable_key(tmp_path: Path) -> None:
    with pytest.raises(ApprovalMalformed, match="cannot be read"):
        make_approval("acme", ["C-1"], "alee", EXPIRES, tmp_path / "missing", created_at=CREATED)


def test_make_approval_defaults_created_to_the_clock(keys: dict[str, Path]) -> None:
    before = dt.datetime.now(UTC).replace(microsecond=0)
    text = make_approval("acme", ["C-1001"], "alee", before + dt.timedelta(days=1), keys["alee"])
    assert check(text, keys, now=before).created >= before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", dt.timedelta(days=7)),
        ("12h", dt.timedelta(hours=12)),
        ("30m", dt.timedelta(minutes=30)),
        (" 1d ", dt.timedelta(days=1)),
    ],
)
def test_parse_duration(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "0d", "-1d", "1w", "1.5h", "7 d", "999999d", "7D"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration(text)


def test_namespace_constant() -> None:
    assert ap.NAMESPACE == NAMESPACE == "reconciler-approval"


def test_unauthenticated_document_is_not_parsed(keys: dict[str, Path]) -> None:
    """A document signed by nobody listed is refused for its key before its YAML is read."""
    from reconciler.security import sshsig

    doc = "kind: [unclosed\n"
    with pytest.raises(ApprovalKeyNotListed, match="any staff member"):
        check(doc + sshsig.sign(doc.encode(), keys["mallory"], NAMESPACE), keys)
