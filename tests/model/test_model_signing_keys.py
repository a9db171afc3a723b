"""``signing_keys`` of a staff entry (SPEC §7.2): only OpenSSH public key lines that can verify."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pydantic import ValidationError

from reconciler.model.desired import check_public_key as _check_public_key
from reconciler.model.schema import StaffSpec


def _line(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode("ascii")


ED25519 = _line(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
ECDSA = _line(ec.derive_private_key(7, ec.SECP256R1()))


def _sk(type_: str, blob_type: str | None = None) -> str:
    """A security-key line whose blob starts with ``blob_type`` (the wire string of its type)."""
    name = (blob_type if blob_type is not None else type_).encode("ascii")
    blob = struct.pack(">I", len(name)) + name + b"\x00\x00\x00\x0bkey-payload"
    return f"{type_} {base64.b64encode(blob).decode('ascii')}"


SK_ED = "sk-ssh-ed25519@openssh.com"
SK_EC = "sk-ecdsa-sha2-nistp256@openssh.com"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (ED25519, ED25519),
        (f"{ED25519} alee@laptop", f"{ED25519} alee@laptop"),
        (f"{ED25519} Ana Lee's key", f"{ED25519} Ana Lee's key"),
        (f"  {ED25519} alee@laptop \n", f"{ED25519} alee@laptop"),
        (ECDSA, ECDSA),
        (_sk(SK_ED), _sk(SK_ED)),
        (f"{_sk(SK_EC)} yubikey", f"{_sk(SK_EC)} yubikey"),
        (f" {_sk(SK_ED)}\n", _sk(SK_ED)),
    ],
    ids=[
        "ed25519 without comment",
        "ed25519 with comment",
        "comment with spaces",
        "surrounding blanks dropped",
        "ecdsa",
        "security key (ed25519)",
        "security key (ecdsa) with comment",
        "security key, blanks dropped",
    ],
)
def test_a_readable_key_line_is_kept_stripped(line: str, kept: str) -> None:
    assert _check_public_key(line) == kept


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "not an OpenSSH public key line"),
        ("ssh-ed25519", "not an OpenSSH public key line"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not an OpenSSH public key line"),
        (f"SSH-ED25519 {ED25519.split()[1]}", "not an OpenSSH public key line"),
        ("ssh-ed25519 AAAA", "public key of type 'ssh-ed25519' cannot be read"),
        (f"ssh-rsa {ED25519.split()[1]}", "public key of type 'ssh-rsa' cannot be read"),
        (_sk(SK_ED, SK_EC), f"{SK_ED} public key cannot be read"),
        (_sk(SK_EC, SK_EC[:-1]), f"{SK_EC} public key cannot be read"),
        (f"{SK_ED} AAA!", f"{SK_ED} public key cannot be read"),
        (_sk(SK_ED)[:40] + "*" + _sk(SK_ED)[40:], f"{SK_ED} public key cannot be read"),
        (f"{SK_ED} " + base64.b64encode(b"\x00\x00\x01").decode(), f"{SK_ED} public key cannot be read"),
        (f"{SK_ED} " + base64.b64encode(b"\x00\x00\x00\x02\xff\xfe").decode(), f"{SK_ED} public key cannot be read"),
        # the length field is unsigned: read signed (-7) it would slice the type out from the end
        (
            f"{SK_ED} " + base64.b64encode(struct.pack(">I", 2**32 - 7) + SK_ED.encode() + b"xyz").decode(),
            f"{SK_ED} public key cannot be read",
        ),
    ],
    ids=[
        "empty",
        "type only",
        "unsupported type",
        "type is case-sensitive",
        "truncated ed25519 blob",
        "type and blob disagree",
        "security key blob of another type",
        "security key blob type one character short",
        "security key not base64",
        "security key with a stray character (not skipped)",
        "security key blob shorter than its length field",
        "security key blob type not ascii",
        "security key blob length field above 2**31",
    ],
)
def test_an_unreadable_key_line_is_refused(line: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        _check_public_key(line)
    assert str(exc.value).startswith(message), str(exc.value)


def test_a_staff_entry_holds_its_keys_as_written() -> None:
    spec = StaffSpec(id="alee", signing_keys=[f"{ED25519} alee@laptop", _sk(SK_ED)])
    assert spec.signing_keys == [f"{ED25519} alee@laptop", _sk(SK_ED)]
    with pytest.raises(ValidationError, match="cannot be read"):
        StaffSpec(id="alee", signing_keys=["ssh-ed25519 AAAA"])
