"""SSH signatures, byte-compatible with ``ssh-keygen -Y sign`` / ``-Y verify``.

Implements OpenSSH's PROTOCOL.sshsig with ``cryptography``::

    -----BEGIN SSH SIGNATURE-----
    base64, wrapped at 70 columns, of:
        byte[6]  "SSHSIG"
        uint32   1                       (version)
        string   public key blob
        string   namespace               ("reconciler-approval")
        string   reserved                (empty)
        string   hash_algorithm          ("sha512"; "sha256" is accepted too)
        string   signature blob          (string algorithm, string/bytes signature)
    -----END SSH SIGNATURE-----

and the signed data is ``"SSHSIG" || string namespace || string reserved || string
hash_algorithm || string H(message)``. ``string`` is a uint32 big-endian length and the
bytes.

Signing: Ed25519, ECDSA (nistp256/384/521) and RSA (``rsa-sha2-512``) keys in OpenSSH
private key format. Verifying: the same algorithms plus FIDO security keys
(``sk-ssh-ed25519@openssh.com``, ``sk-ecdsa-sha2-nistp256@openssh.com``) with the
user-presence flag required (stricter than ``ssh-keygen -Y verify``, which accepts a
signature made without a touch); ``ssh-rsa`` (SHA-1) signatures are refused.

PyPI's ``sshsig`` package was considered: it only verifies (no signing) and would add a
dependency to the lock; this module is the spec's ~100 lines on ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ..errors import ReconcilerError

MAGIC = b"SSHSIG"
VERSION = 1
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
_WRAP = 70
_HASHES = {"sha512": hashlib.sha512, "sha256": hashlib.sha256}
_CURVES: dict[str, tuple[str, type[ec.EllipticCurve], hashes.HashAlgorithm]] = {
    "secp256r1": ("nistp256", ec.SECP256R1, hashes.SHA256()),
    "secp384r1": ("nistp384", ec.SECP384R1, hashes.SHA384()),
    "secp521r1": ("nistp521", ec.SECP521R1, hashes.SHA512()),
}
_NAMESPACE_RE = re.compile(r"^[\x21-\x7e]{1,64}$")


class SignatureError(ReconcilerError):
    """Base of everything that can be wrong with a signature or a key."""


class KeyUnreadable(SignatureError):
    """A private or public key cannot be read (or is encrypted and no passphrase was given)."""


class BadArmor(SignatureError):
    """The text is not an armored SSH signature, or its contents are malformed."""


class WrongNamespace(SignatureError):
    """The signature was made for another purpose (``-n`` namespace)."""


class UnknownKey(SignatureError):
    """The signature was made by a key that is not among the allowed ones."""


class BadSignature(SignatureError):
    """The signature does not match the message: the message or signature was altered."""


# ---------------------------------------------------------------------------- wire format


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BadArmor("SSH signature is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def done(self) -> None:
        if self.pos != len(self.data):
            raise BadArmor("SSH signature has trailing bytes")


def _mpint(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True) if value else b""
    return _string(raw)


def _signed_data(namespace: str, hash_algorithm: str, message: bytes) -> bytes:
    digest = _HASHES[hash_algorithm](message).digest()
    return MAGIC + _string(namespace.encode()) + _string(b"") + _string(hash_algorithm.encode()) + _string(digest)


def _check_namespace(namespace: str) -> None:
    if not _NAMESPACE_RE.match(namespace):
        raise SignatureError(f"invalid signature namespace {namespace!r}")


def armor(blob: bytes) -> str:
    """The ``-----BEGIN SSH SIGNATURE-----`` text of a signature blob, as ssh-keygen writes it."""
    b64 = base64.b64encode(blob).decode("ascii")
    lines = [b64[i : i + _WRAP] for i in range(0, len(b64), _WRAP)]
    return "\n".join([BEGIN, *lines, END]) + "\n"


def unarmor(text: str) -> bytes:
    """The signature blob inside armored ``text`` (surrounding whitespace allowed)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != BEGIN or lines[-1] != END:
        raise BadArmor("not an SSH signature (expected -----BEGIN SSH SIGNATURE----- ... -----END SSH SIGNATURE-----)")
    body = "".join(lines[1:-1])
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadArmor("SSH signature is not valid base64") from None


# ---------------------------------------------------------------------------- keys

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def load_private_key(key: str | Path | bytes, passphrase: bytes | str | None = None) -> PrivateKey:
    """An OpenSSH private key (``-----BEGIN OPENSSH PRIVATE KEY-----``) from its bytes or
    a file path. An encrypted key needs ``passphrase``."""
    if isinstance(key, bytes):
        data, where = key, "private key"
    else:
        path = Path(key)
        where = f"private key {path}"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyUnreadable(f"{where}: cannot be read ({exc.strerror or exc})") from None
    password = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        loaded = serialization.load_ssh_private_key(data, password=password)
    except TypeError as exc:
        if "not encrypted" in str(exc):
            raise KeyUnreadable(f"{where} is not encrypted; do not pass a passphrase") from None
        raise KeyUnreadable(f"{where} is encrypted: give its passphrase (or use ssh-keygen -Y sign)") from None
    except UnsupportedAlgorithm as exc:
        if "bcrypt" in str(exc):
            raise KeyUnreadable(
                f"{where} is encrypted and decrypting it needs the 'bcrypt' package; "
                "sign with ssh-keygen -Y sign instead"
            ) from None
        raise KeyUnreadable(f"{where}: unsupported ({exc})") from None
    except ValueError as exc:
        msg = str(exc)
        if "bcrypt" in msg.lower() or "password" in msg.lower() or "decrypt" in msg.lower():
            raise KeyUnreadable(f"{where}: wrong passphrase or unsupported encryption") from None
        raise KeyUnreadable(f"{where} is not an OpenSSH private key") from None
    if not isinstance(
        loaded,
        (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey),
    ):
        raise KeyUnreadable(f"{where}: only ed25519, ecdsa and rsa keys can sign")
    return loaded


def _openssh_line(public: PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")


def public_key_blob(line: str) -> bytes:
    """The wire blob of an OpenSSH public key line ``TYPE BASE64 [COMMENT]`` (validated
    by ``cryptography``'s ``load_ssh_public_key``)."""
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        raise KeyUnreadable("public key is not of the form 'TYPE BASE64 [COMMENT]'")
    try:
        serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode("ascii"))
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm, binascii.Error):
        raise KeyUnreadable(f"public key of type {parts[0][:40]!r} cannot be read") from None
    return blob


def fingerprint(line_or_blob: str | bytes) -> str:
    """``SHA256:…`` as ``ssh-keygen -l`` prints it."""
    blob = line_or_blob if isinstance(line_or_blob, bytes) else public_key_blob(line_or_blob)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def public_key_line(private_key: str | Path | bytes, passphrase: bytes | str | None = None) -> str:
    """``TYPE BASE64`` of a private key's public half (no comment)."""
    return _openssh_line(load_private_key(private_key, passphrase).public_key())


# ---------------------------------------------------------------------------- sign / verify


def sign(
    message: bytes,
    private_key: str | Path | bytes,
    namespace: str,
    *,
    passphrase: bytes | str | None = None,
) -> str:
    """Armored SSH signature of ``message``, as ``ssh-keygen -Y sign -n NAMESPACE -f KEY``
    writes it (hash sha512)."""
    _check_namespace(namespace)
    key = load_private_key(private_key, passphrase)
    line = _openssh_line(key.public_key())
    pub_blob = base64.b64decode(line.split()[1])
    data = _signed_data(namespace, "sha512", message)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        sig_blob = _string(b"ssh-ed25519") + _string(key.sign(data))
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        curve, _, digest = _CURVES[key.curve.name]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        sig_blob = _string(f"ecdsa-sha2-{curve}".encode()) + _string(_mpint(r) + _mpint(s))
    else:
        sig_blob = _string(b"rsa-sha2-512") + _string(key.sign(data, padding.PKCS1v15(), hashes.SHA512()))
    blob = (
        MAGIC
        + struct.pack(">I", VERSION)
        + _string(pub_blob)
        + _string(namespace.encode())
        + _string(b"")
        + _string(b"sha512")
        + _string(sig_blob)
    )
    return armor(blob)


SK_ED25519 = "sk-ssh-ed25519@openssh.com"
SK_ECDSA = "sk-ecdsa-sha2-nistp256@openssh.com"
SK_USER_PRESENT = 0x01


def _verify_sk(pub_blob: bytes, sig_blob: bytes, data: bytes) -> None:
    """A security-key (FIDO) signature, as ``ssh-keygen -Y verify`` checks it: the key
    signed ``SHA256(application) || flags || counter || SHA256(data)``; in addition
    the user-presence flag must be set."""
    key = _Reader(pub_blob)
    key_type = key.string().decode("ascii", "replace")
    if key_type == SK_ED25519:
        point = key.string()
    elif key_type == SK_ECDSA:
        if key.string() != b"nistp256":
            raise BadSignature("security key curve is not nistp256")
        point = key.string()
    else:
        raise UnknownKey(f"unsupported key type {key_type[:40]!r}")
    application = key.string()
    key.done()
    reader = _Reader(sig_blob)
    algorithm = reader.string().decode("ascii", "replace")
    raw = reader.string()
    flags = reader.take(1)[0]
    counter = reader.take(4)
    reader.done()
    if algorithm != key_type:
        raise BadSignature(f"signature algorithm {algorithm[:40]!r} does not match the {key_type} key")
    if not flags & SK_USER_PRESENT:
        raise BadSignature("security key signature was made without user presence (touch)")
    signed = hashlib.sha256(application).digest() + bytes([flags]) + counter + hashlib.sha256(data).digest()
    try:
        if key_type == SK_ED25519:
            ed25519.Ed25519PublicKey.from_public_bytes(point).verify(raw, signed)
        else:
            inner = _Reader(raw)
            r, s = inner.mpint(), inner.mpint()
            inner.done()
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point).verify(
                encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256())
            )
    except ValueError:
        raise BadSignature("security key public key is invalid") from None
    except InvalidSignature:
        raise BadSignature("signature does not verify: the signed text or the signature was altered") from None


def _verify_raw(public: object, sig_blob: bytes, data: bytes) -> None:
    reader = _Reader(sig_blob)
    algorithm = reader.string().decode("ascii", "replace")
    raw = reader.string()
    reader.done()
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            if algorithm != "ssh-ed25519":
                raise BadSignature(f"signature algorithm {algorithm!r} does not match an ed25519 key")
            public.verify(raw, data)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            curve, _, digest = _CURVES.get(public.curve.name, ("", ec.SECP256R1, hashes.SHA256()))
            if not curve or algorithm != f"ecdsa-sha2-{curve}":
                raise BadSignature(f"signature algorithm {algorithm!r} does not match the ecdsa key")
            inner = _Reader(raw)
            r, s = inner.mpint(), inner.mpint()
            inner.done()
            public.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest))
        elif isinstance(public, rsa.RSAPublicKey):
            rsa_hash: hashes.HashAlgorithm
            if algorithm == "rsa-sha2-512":
                rsa_hash = hashes.SHA512()
            elif algorithm == "rsa-sha2-256":
                rsa_hash = hashes.SHA256()
            else:
                raise BadSignature(f"signature algorithm {algorithm!r} is not accepted for an rsa key")
            public.verify(raw, data, padding.PKCS1v15(), rsa_hash)
        else:
            raise UnknownKey("unsupported key type")
    except InvalidSignature:
        raise BadSignature("signature does not verify: the signed text or the signature was altered") from None


def parse(armored: str) -> tuple[bytes, str, str, bytes]:
    """``(public key blob, namespace, hash algorithm, signature blob)`` of an armored
    signature; :class:`BadArmor` when its structure is wrong."""
    reader = _Reader(unarmor(armored))
    if reader.take(6) != MAGIC:
        raise BadArmor("not an SSH signature (magic SSHSIG missing)")
    version = reader.uint32()
    if version != VERSION:
        raise BadArmor(f"unsupported SSH signature version {version}")
    pub_blob = reader.string()
    try:
        namespace = reader.string().decode("utf-8")
    except UnicodeDecodeError:
        raise BadArmor("SSH signature namespace is not text") from None
    reader.string()  # reserved
    hash_algorithm = reader.string().decode("ascii", "replace")
    sig_blob = reader.string()
    reader.done()
    if hash_algorithm not in _HASHES:
        raise BadArmor(f"unsupported signature hash algorithm {hash_algorithm!r}")
    return pub_blob, namespace, hash_algorithm, sig_blob


def verify(
    message: bytes,
    armored_signature: str,
    allowed_public_keys: Sequence[str],
    namespace: str,
) -> str:
    """Check an armored signature of ``message`` made in ``namespace`` by one of
    ``allowed_public_keys`` (OpenSSH public key lines). Returns the matching line.

    Raises :class:`BadArmor`, :class:`WrongNamespace`, :class:`UnknownKey` or
    :class:`BadSignature` (all :class:`SignatureError`)."""
    _check_namespace(namespace)
    pub_blob, sig_namespace, hash_algorithm, sig_blob = parse(armored_signature)
    if sig_namespace != namespace:
        raise WrongNamespace(f"signature is for namespace {sig_namespace[:64]!r}, not {namespace!r}")
    match = None
    for line in allowed_public_keys:
        try:
            if public_key_blob(line) == pub_blob:
                match = line
                break
        except KeyUnreadable:
            continue
    if match is None:
        raise UnknownKey(f"signed by a key that is not allowed ({fingerprint(pub_blob)})")
    key_type = match.split()[0]
    data = _signed_data(namespace, hash_algorithm, message)
    if key_type.startswith("sk-"):
        _verify_sk(pub_blob, sig_blob, data)
    else:
        public = serialization.load_ssh_public_key(f"{key_type} {match.split()[1]}".encode("ascii"))
        _verify_raw(public, sig_blob, data)
    return match
