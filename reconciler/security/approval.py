"""Signed approvals for client deletion (SPEC §7.2).

An approval file is a small YAML document followed by its SSH signature::

    # reconciler deletion approval (sign: ssh-keygen -Y sign -n reconciler-approval)
    kind: reconciler-deletion-approval
    version: 1
    practice: "acme"
    signer: "alee"
    clients:
      - "C-1001"
      - "C-1002"
    created: "2026-12-02T15:30:00Z"
    expires: "2026-12-09T15:30:00Z"
    -----BEGIN SSH SIGNATURE-----
    U1NIU0lH...
    -----END SSH SIGNATURE-----

The signature covers exactly the bytes before the ``-----BEGIN SSH SIGNATURE-----`` line
(the document, including its final newline), in namespace ``reconciler-approval``.
So an approval can be made without this tool, with ``ssh-keygen`` or a hardware key::

    $EDITOR approval.yaml                                    # the document above
    ssh-keygen -Y sign -n reconciler-approval -f ~/.ssh/id_ed25519 approval.yaml
    cat approval.yaml approval.yaml.sig > approval           # one file

(``check_approval`` also takes the document and a detached ``.sig`` separately.)
Read the file as bytes (or with ``newline=""``): the signature covers the exact bytes,
so a CRLF conversion counts as tampering.

The document holds ids only (practice, client ids, signer staff id), never names. The
signed bytes are parsed with ``yaml.safe_load`` and a strict shape: exactly the keys
above, ids matching the config's id pattern, times as quoted ISO 8601 UTC strings,
no duplicate keys.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import PlanRefused, ReconcilerError
from . import sshsig

NAMESPACE = "reconciler-approval"
KIND = "reconciler-deletion-approval"
VERSION = 1
HEADER = "# reconciler deletion approval (sign: ssh-keygen -Y sign -n reconciler-approval)\n"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_UTC = dt.UTC
_KEYS = {"kind", "version", "practice", "signer", "clients", "created", "expires"}
_MAX_DOCUMENT = 1 << 20
_DURATION_RE = re.compile(r"^([1-9][0-9]{0,4})([dhm])$")


class ApprovalError(PlanRefused):
    """A deletion approval does not allow the deletion. ``reason`` is a stable code."""

    reason = "refused"


class ApprovalMalformed(ApprovalError):
    reason = "malformed"


class ApprovalTampered(ApprovalError):
    reason = "tampered"


class ApprovalWrongNamespace(ApprovalError):
    reason = "wrong-namespace"


class ApprovalKeyNotListed(ApprovalError):
    reason = "key-not-listed"


class ApprovalSignerNotAuthorised(ApprovalError):
    reason = "signer-not-authorised"


class ApprovalWrongPractice(ApprovalError):
    reason = "wrong-practice"


class ApprovalExpired(ApprovalError):
    reason = "expired"


class ApprovalClientNotCovered(ApprovalError):
    reason = "client-not-covered"


class InvalidDuration(ReconcilerError):
    """``--expires`` is not a duration such as ``7d``, ``12h`` or ``30m``."""


@dataclass(frozen=True)
class Approval:
    """A verified approval: who signed it with which key, for which clients, until when."""

    practice: str
    clients: tuple[str, ...]
    signer: str
    created: dt.datetime
    expires: dt.datetime
    key: str  # the signer's public key line that verified the signature
    fingerprint: str  # SHA256:... of that key

    def covers(self, client_id: str) -> bool:
        return client_id in self.clients


# ---------------------------------------------------------------------------- helpers


def parse_duration(text: str) -> dt.timedelta:
    """``7d``, ``12h``, ``30m`` -> timedelta (a positive whole number and one unit)."""
    m = _DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise InvalidDuration(f"duration {str(text)[:32]!r} is not like 7d, 12h or 30m")
    n, unit = int(m.group(1)), m.group(2)
    return {
        "d": dt.timedelta(days=n),
        "h": dt.timedelta(hours=n),
        "m": dt.timedelta(minutes=n),
    }[unit]


def _iso(value: dt.datetime) -> str:
    utc = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    return utc.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ApprovalMalformed(f"approval {what} is not a valid id")
    return value


def render_document(
    practice: str,
    client_ids: Iterable[str],
    signer_staff_id: str,
    expires_at: dt.datetime,
    created_at: dt.datetime,
) -> str:
    """The document part of an approval: deterministic (clients sorted, de-duplicated,
    times in whole UTC seconds), ending with a newline."""
    _check_id(practice, "practice")
    _check_id(signer_staff_id, "signer")
    clients = sorted({_check_id(c, "client") for c in client_ids})
    if not clients:
        raise ApprovalMalformed("an approval must name at least one client id")
    if _iso(expires_at) <= _iso(created_at):
        raise ApprovalMalformed("approval expiry must be after its creation time")
    lines = [
        HEADER.rstrip("\n"),
        f"kind: {KIND}",
        f"version: {VERSION}",
        f'practice: "{practice}"',
        f'signer: "{signer_staff_id}"',
        "clients:",
        *[f'  - "{c}"' for c in clients],
        f'created: "{_iso(created_at)}"',
        f'expires: "{_iso(expires_at)}"',
    ]
    return "\n".join(lines) + "\n"


def make_approval(
    practice: str,
    client_ids: Iterable[str],
    signer_staff_id: str,
    expires_at: dt.datetime,
    private_key: str | Path | bytes,
    *,
    created_at: dt.datetime | None = None,
    passphrase: bytes | str | None = None,
) -> str:
    """An approval file's text: :func:`render_document` followed by its armored SSH
    signature (namespace ``reconciler-approval``), signed with ``private_key`` (an
    OpenSSH private key's path or bytes). ``created_at`` defaults to the clock."""
    created = created_at if created_at is not None else dt.datetime.now(_UTC)
    document = render_document(practice, client_ids, signer_staff_id, expires_at, created)
    try:
        signature = sshsig.sign(document.encode("utf-8"), private_key, NAMESPACE, passphrase=passphrase)
    except sshsig.SignatureError as exc:
        raise ApprovalMalformed(str(exc)) from None
    return document + signature


def split_approval(text: str | bytes) -> tuple[bytes, str]:
    """``(document bytes, armored signature)`` of a one-file approval."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > _MAX_DOCUMENT:
        raise ApprovalMalformed("approval file is too large")
    marker = sshsig.BEGIN.encode("ascii")
    if data.startswith(marker):
        at = 0
    else:
        at = data.find(b"\n" + marker)
        if at < 0:
            raise ApprovalMalformed("approval has no SSH signature (-----BEGIN SSH SIGNATURE----- line)")
        at += 1
    try:
        signature = data[at:].decode("ascii")
    except UnicodeDecodeError:
        raise ApprovalMalformed("approval signature is not ASCII") from None
    return data[:at], signature


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise ApprovalMalformed(f"approval document repeats the key {str(key)[:32]!r}")
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_time(value: object, what: str) -> dt.datetime:
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", value):
        raise ApprovalMalformed(f'approval {what} is not a quoted UTC time like "2026-12-09T15:30:00Z"')
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_UTC)
    except ValueError:
        raise ApprovalMalformed(f"approval {what} is not a valid time") from None


@dataclass(frozen=True)
class _Document:
    practice: str
    clients: tuple[str, ...]
    signer: str
    created: dt.datetime
    expires: dt.datetime


def parse_document(document: bytes) -> _Document:
    """The fields of an approval document, checked for shape (not for authenticity)."""
    try:
        raw = yaml.load(document.decode("utf-8"), Loader=_StrictLoader)  # a SafeLoader subclass
    except UnicodeDecodeError:
        raise ApprovalMalformed("approval document is not UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ApprovalMalformed(f"approval document is not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise ApprovalMalformed("approval document is not a mapping")
    keys = {str(k) for k in raw}
    if keys != _KEYS:
        missing, extra = sorted(_KEYS - keys), sorted(keys - _KEYS)
        detail = "; ".join(
            p
            for p in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(k[:32] for k in extra)}" if extra else "",
            )
            if p
        )
        raise ApprovalMalformed(f"approval document has the wrong fields ({detail})")
    if raw["kind"] != KIND:
        raise ApprovalMalformed(f"approval document kind must be {KIND}")
    if raw["version"] != VERSION or isinstance(raw["version"], bool):
        raise ApprovalMalformed(f"approval document version must be {VERSION}")
    clients = raw["clients"]
    if not isinstance(clients, list) or not clients:
        raise ApprovalMalformed("approval clients must be a non-empty list of client ids")
    ids = tuple(_check_id(c, "client") for c in clients)
    if len(set(ids)) != len(ids):
        raise ApprovalMalformed("approval lists a client id twice")
    created = _parse_time(raw["created"], "created")
    expires = _parse_time(raw["expires"], "expires")
    if expires <= created:
        raise ApprovalMalformed("approval expires before it was created")
    return _Document(
        _check_id(raw["practice"], "practice"),
        ids,
        _check_id(raw["signer"], "signer"),
        created,
        expires,
    )


# ---------------------------------------------------------------------------- check


def _blob_or_none(line: str) -> bytes | None:
    try:
        return sshsig.public_key_blob(line)
    except sshsig.SignatureError:
        return None


def check_approval(
    text: str | bytes,
    *,
    practice: str,
    client_ids_needed: Iterable[str],
    staff_keys: Mapping[str, Sequence[str]],
    staff_may_delete: Callable[[str], bool] | Collection[str],
    now: dt.datetime,
    signature: str | None = None,
) -> Approval:
    """Verify an approval for deleting ``client_ids_needed`` in ``practice`` at ``now``.

    ``text`` is a one-file approval (document + armored signature), or the document
    alone when ``signature`` (a detached ``ssh-keygen`` ``.sig``) is given.
    ``staff_keys`` maps staff ids to their ``signing_keys``; ``staff_may_delete`` says
    whose role/access allows deletion (a predicate or a set of staff ids).

    Checked in this order, each failure raising its :class:`ApprovalError` subclass:
    malformed (signature structure), wrong-namespace, key-not-listed (the signing key
    is no staff member's), tampered (the signature does not verify); only then is the
    signed YAML parsed: malformed (shape), key-not-listed (the key is not one of the
    *named signer's* keys), signer-not-authorised, wrong-practice, expired (``now`` at
    or after ``expires``), client-not-covered."""
    if signature is None:
        document, armored = split_approval(text)
    else:
        document = text.encode("utf-8") if isinstance(text, str) else text
        armored = signature
    try:
        sig_key, sig_namespace, _, _ = sshsig.parse(armored)
    except sshsig.SignatureError as exc:
        raise ApprovalMalformed(f"approval signature is malformed: {exc}") from None
    if sig_namespace != NAMESPACE:
        raise ApprovalWrongNamespace(f"approval is signed for another purpose (namespace not {NAMESPACE})")
    # Authenticate before parsing: the YAML is read only once a listed key signed it.
    every_key = [line for lines in staff_keys.values() for line in lines]
    try:
        sshsig.verify(document, armored, every_key, NAMESPACE)
    except sshsig.UnknownKey:
        raise ApprovalKeyNotListed(
            f"approval is signed by key {sshsig.fingerprint(sig_key)}, which is not listed in "
            "the signing_keys of any staff member"
        ) from None
    except sshsig.BadArmor as exc:
        raise ApprovalMalformed(f"approval signature is malformed: {exc}") from None
    except sshsig.SignatureError:
        raise ApprovalTampered("approval signature does not verify: the approval was altered after signing") from None
    doc = parse_document(document)
    if sig_key not in {_blob_or_none(k) for k in staff_keys.get(doc.signer, ())}:
        raise ApprovalKeyNotListed(
            f"approval is signed by key {sshsig.fingerprint(sig_key)}, which is not listed in "
            f"signing_keys of staff {doc.signer}"
        )
    line = next(k for k in staff_keys[doc.signer] if _blob_or_none(k) == sig_key)
    allowed = staff_may_delete(doc.signer) if callable(staff_may_delete) else doc.signer in staff_may_delete
    if not allowed:
        raise ApprovalSignerNotAuthorised(
            f"approval signer staff {doc.signer} may not approve deletions "
            "(role owner or practice manager, or entire-practice access, is required)"
        )
    if doc.practice != practice:
        raise ApprovalWrongPractice(f"approval is for practice {doc.practice}, not {practice}")
    at = now.replace(tzinfo=_UTC) if now.tzinfo is None else now.astimezone(_UTC)
    if at >= doc.expires:
        raise ApprovalExpired(f"approval expired at {_iso(doc.expires)}")
    missing = sorted(set(client_ids_needed) - set(doc.clients))
    if missing:
        raise ApprovalClientNotCovered(f"approval does not cover client {', '.join(missing)}")
    return Approval(
        doc.practice,
        doc.clients,
        doc.signer,
        doc.created,
        doc.expires,
        line,
        sshsig.fingerprint(line),
    )
