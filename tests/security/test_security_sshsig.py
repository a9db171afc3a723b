"""SSH signatures in ssh-keygen -Y format, proven against the real ssh-keygen."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest
from trust_keys import NAMESPACE, keygen, pub, requires_ssh_keygen, ssh_sign, ssh_verify

from reconciler.errors import ReconcilerError
from reconciler.security import sshsig

pytestmark = requires_ssh_keygen
MESSAGE = b'kind: reconciler-deletion-approval\nclients:\n  - "C-1001"\n'
KINDS = ["ed25519", "ecdsa", "rsa"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    return {kind: keygen(d, kind, kind) for kind in KINDS} | {"other": keygen(d, "other")}


@pytest.mark.parametrize("kind", KINDS)
def test_ssh_keygen_signature_verifies_here(kind: str, keys: dict[str, Path], tmp_path: Path) -> None:
    armored = ssh_sign(keys[kind], MESSAGE, tmp_path)
    assert sshsig.verify(MESSAGE, armored, [pub(keys["other"]), pub(keys[kind])], NAMESPACE) == pub(keys[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_our_signature_verifies_with_ssh_keygen(kind: str, keys: dict[str, Path], tmp_path: Path) -> None:
    armored = sshsig.sign(MESSAGE, keys[kind], NAMESPACE)
    result = ssh_verify(pub(keys[kind]), MESSAGE, armored, tmp_path)
    assert result.returncode == 0, result.stderr
    assert b'Good "reconciler-approval" signature for signer' in result.stdout


def test_ssh_keygen_refuses_our_signature_over_other_bytes(keys: dict[str, Path], tmp_path: Path) -> None:
    armored = sshsig.sign(MESSAGE, keys["ed25519"], NAMESPACE)
    assert ssh_verify(pub(keys["ed25519"]), MESSAGE + b"x", armored, tmp_path).returncode != 0


def test_ed25519_output_is_byte_identical_to_ssh_keygen(keys: dict[str, Path], tmp_path: Path) -> None:
    """Ed25519 is deterministic: same key, message and namespace give the same armor,
    including the 70-column wrapping and the final newline."""
    assert sshsig.sign(MESSAGE, keys["ed25519"], NAMESPACE) == ssh_sign(keys["ed25519"], MESSAGE, tmp_path)


def test_sign_accepts_key_bytes(keys: dict[str, Path]) -> None:
    armored = sshsig.sign(MESSAGE, keys["ed25519"].read_bytes(), NAMESPACE)
    assert sshsig.verify(MESSAGE, armored, [pub(keys["ed25519"])], NAMESPACE)


def test_wire_format_fields(keys: dict[str, Path]) -> None:
    blob = sshsig.unarmor(sshsig.sign(MESSAGE, keys["ed25519"], NAMESPACE))
    assert blob[:6] == b"SSHSIG" and struct.unpack(">I", blob[6:10])[0] == 1
    pub_blob, namespace, hash_alg, sig_blob = sshsig.parse(sshsig.armor(blob))
    assert pub_blob == base64.b64decode(pub(keys["ed25519"]).split()[1])
    assert (namespace, hash_alg) == (NAMESPACE, "sha512")
    assert sig_blob[4:15] == b"ssh-ed25519"


def test_fingerprint_matches_ssh_keygen_l(keys: dict[str, Path]) -> None:
    import subprocess

    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(keys["ed25519"]) + ".pub"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert sshsig.fingerprint(pub(keys["ed25519"])) == out.split()[1]


# ---------------------------------------------------------------------------- refusals, one per rule


def test_wrong_namespace_is_refused(keys: dict[str, Path], tmp_path: Path) -> None:
    armored = ssh_sign(keys["ed25519"], MESSAGE, tmp_path, namespace="git")
    with pytest.raises(sshsig.WrongNamespace):
        sshsig.verify(MESSAGE, armored, [pub(keys["ed25519"])], NAMESPACE)


def test_unknown_key_is_refused(keys: dict[str, Path]) -> None:
    armored = sshsig.sign(MESSAGE, keys["ed25519"], NAMESPACE)
    with pytest.raises(sshsig.UnknownKey, match="SHA256:"):
        sshsig.verify(MESSAGE, armored, [pub(keys["other"])], NAMESPACE)


def test_no_allowed_keys_is_unknown_key(keys: dict[str, Path]) -> None:
    armored = sshsig.sign(MESSAGE, keys["ed25519"], NAMESPACE)
    with pytest.raises(sshsig.UnknownKey):
        sshsig.verify(MESSAGE, armored, [], NAMESPACE)


@pytest.mark.parametrize("kind", KINDS)
def test_altered_message_is_bad_signature(kind: str, keys: dict[str, Path], tmp_path: Path) -> None:
    armored = ssh_sign(keys[kind], MESSAGE, tmp_path)
    with pytest.raises(sshsig.BadSignature):
        sshsig.verify(MESSAGE.replace(b"1001", b"1002"), armored, [pub(keys[kind])], NAMESPACE)


def test_signature_bytes_altered_is_bad_signature(keys: dict[str, Path]) -> None:
    blob = bytearray(sshsig.unarmor(sshsig.sign(MESSAGE, keys["ed25519"], NAMESPACE)))
    blob[-1] ^= 1
    with pytest.raises(sshsig.BadSignature):
        sshsig.verify(MESSAGE, sshsig.armor(bytes(blob)), [pub(keys["ed25519"])], NAMESPACE)


def test_public_key_swapped_in_signature_is_refused(keys: dict[str, Path]) -> None:
    """Replacing the embedded public key by an allowed one does not make it verify."""
    _, ns, alg, sig_blob = sshsig.parse(sshsig.sign(MESSAGE, keys["other"], NAMESPACE))
    other_blob = base64.b64decode(pub(keys["ed25519"]).split()[1])

    def s(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    forged = b"SSHSIG" + struct.pack(">I", 1) + s(other_blob) + s(ns.encode()) + s(b"") + s(alg.encode()) + s(sig_blob)
    with pytest.raises(sshsig.BadSignature):
        sshsig.verify(MESSAGE, sshsig.armor(forged), [pub(keys["ed25519"])], NAMESPACE)


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("empty", ""),
        ("no armor", "hello"),
        ("missing end", "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n"),
        (
            "not base64",
            "-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n",
        ),
        ("wrong magic", sshsig.armor(b"NOTSIG" + b"\0" * 40)),
        ("wrong version", sshsig.armor(b"SSHSIG" + struct.pack(">I", 2) + b"\0" * 20)),
        (
            "truncated",
            sshsig.armor(b"SSHSIG" + struct.pack(">I", 1) + struct.pack(">I", 500) + b"abc"),
        ),
        (
            "trailing bytes",
            sshsig.armor(
                b"SSHSIG" + struct.pack(">I", 1) + b"\0\0\0\0" * 5 + b"\0\0\0\x06sha512" + b"\0\0\0\0" + b"junk"
            ),
        ),
        (
            "unknown hash",
            sshsig.armor(b"SSHSIG" + struct.pack(">I", 1) + b"\0\0\0\0" * 3 + b"\0\0\0\x03md5" + b"\0\0\0\0"),
        ),
    ],
)
def test_bad_armor_is_refused(label: str, text: str, keys: dict[str, Path]) -> None:
    with pytest.raises(sshsig.BadArmor):
        sshsig.verify(MESSAGE, text, [pub(keys["ed25519"])], NAMESPACE)


def test_every_signature_error_is_a_reconciler_error() -> None:
    for cls in (
        sshsig.BadArmor,
        sshsig.WrongNamespace,
        sshsig.UnknownKey,
        sshsig.BadSignature,
        sshsig.KeyUnreadable,
    ):
        assert issubclass(cls, sshsig.SignatureError) and issubclass(cls, ReconcilerError)


# ---------------------------------------------------------------------------- private keys


def test_encrypted_key_without_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    key = keygen(tmp_path, "locked", passphrase="correct horse")
    with pytest.raises(sshsig.KeyUnreadable, match="encrypted: give its passphrase"):
        sshsig.sign(MESSAGE, key, NAMESPACE)


def test_encrypted_key_with_passphrase_signs_or_says_why(tmp_path: Path) -> None:
    """Decrypting needs the optional ``bcrypt`` package; without it the error says so."""
    key = keygen(tmp_path, "locked", passphrase="correct horse")
    try:
        armored = sshsig.sign(MESSAGE, key, NAMESPACE, passphrase="correct horse")
    except sshsig.KeyUnreadable as exc:
        assert "locked" in str(exc)
    else:
        assert sshsig.verify(MESSAGE, armored, [pub(key)], NAMESPACE)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(sshsig.KeyUnreadable, match="cannot be read"):
        sshsig.sign(MESSAGE, tmp_path / "nope", NAMESPACE)


def test_not_a_private_key(keys: dict[str, Path]) -> None:
    with pytest.raises(sshsig.KeyUnreadable, match="not an OpenSSH private key"):
        sshsig.sign(MESSAGE, pub(keys["ed25519"]).encode(), NAMESPACE)


@pytest.mark.parametrize(
    "line",
    ["", "ssh-ed25519", "ssh-ed25519 !!!", "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQAB"],
)
def test_unreadable_public_key_line(line: str) -> None:
    with pytest.raises(sshsig.KeyUnreadable):
        sshsig.public_key_blob(line)


def test_invalid_namespace_is_refused(keys: dict[str, Path]) -> None:
    with pytest.raises(sshsig.SignatureError):
        sshsig.sign(MESSAGE, keys["ed25519"], "has space")


# ---------------------------------------------------------------------------- security keys (FIDO)
# No hardware here: a software key signs exactly what a FIDO authenticator signs
# (SHA256(application) || flags || counter || SHA256(data)); the real ssh-keygen
# -Y verify accepting it proves the format, and then ours must agree.


def _s(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _mp(v: int) -> bytes:
    return _s(v.to_bytes((v.bit_length() + 8) // 8, "big"))


def _sk_signature(kind: str, message: bytes, flags: int = 0x01, namespace: str = NAMESPACE) -> tuple[str, str]:
    """(public key line, armored signature) of a simulated security key."""
    import hashlib

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    app = b"ssh:"
    signed_data = b"SSHSIG" + _s(namespace.encode()) + _s(b"") + _s(b"sha512") + _s(hashlib.sha512(message).digest())
    to_sign = (
        hashlib.sha256(app).digest() + bytes([flags]) + struct.pack(">I", 7) + hashlib.sha256(signed_data).digest()
    )
    if kind == "ed25519":
        algo = b"sk-ssh-ed25519@openssh.com"
        ed = ed25519.Ed25519PrivateKey.generate()
        raw = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        pub_blob = _s(algo) + _s(raw) + _s(app)
        sig = _s(ed.sign(to_sign))
    else:
        algo = b"sk-ecdsa-sha2-nistp256@openssh.com"
        eck = ec.generate_private_key(ec.SECP256R1())
        point = eck.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        pub_blob = _s(algo) + _s(b"nistp256") + _s(point) + _s(app)
        r, s = decode_dss_signature(eck.sign(to_sign, ec.ECDSA(hashes.SHA256())))
        sig = _s(_mp(r) + _mp(s))
    sig_blob = _s(algo) + sig + bytes([flags]) + struct.pack(">I", 7)
    blob = (
        b"SSHSIG"
        + struct.pack(">I", 1)
        + _s(pub_blob)
        + _s(namespace.encode())
        + _s(b"")
        + _s(b"sha512")
        + _s(sig_blob)
    )
    return (
        f"{algo.decode()} {base64.b64encode(pub_blob).decode()} yubikey",
        sshsig.armor(blob),
    )


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_security_key_signature_verifies_like_ssh_keygen(kind: str, tmp_path: Path) -> None:
    line, armored = _sk_signature(kind, MESSAGE)
    result = ssh_verify(line, MESSAGE, armored, tmp_path)
    assert result.returncode == 0, result.stderr
    assert sshsig.verify(MESSAGE, armored, [line], NAMESPACE) == line
    with pytest.raises(sshsig.BadSignature):
        sshsig.verify(MESSAGE + b"x", armored, [line], NAMESPACE)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_security_key_signature_without_user_presence_is_refused(kind: str, tmp_path: Path) -> None:
    """Stricter than ssh-keygen 9.2's -Y verify, which accepts it: approving a deletion
    takes a touch."""
    line, armored = _sk_signature(kind, MESSAGE, flags=0x00)
    with pytest.raises(sshsig.BadSignature, match="user presence"):
        sshsig.verify(MESSAGE, armored, [line], NAMESPACE)
