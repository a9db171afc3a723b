"""Signed approvals for client deletion, wired to the config (SPEC §7.2).

The primitives (document format, SSH signatures, every refusal) live in
:mod:`reconciler.security.approval`; this module supplies what they check against:

* the **practice** an approval names is :func:`practice_id` of the practice name (the
  config's ``practice.name``, else the database's): lower case, every run of other
  characters than ``a-z0-9`` turned into one ``-`` ("Sunrise Counseling" →
  ``sunrise-counseling``), because the approval document holds ids only;
* the **keys** are the config's ``staff[].signing_keys``, and who **may approve** is the
  config's role (owner, practice_manager) or access (entire_practice) — the config is
  the reviewed source of truth, a database row is not;
* the **clock** is the real one (``--at`` never extends an approval's life).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from reconciler.errors import PlanRefused, ReconcilerError

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.desired import DesiredState
    from reconciler.security.approval import Approval
    from reconciler.targets.base import Target

DELETE_ROLES = ("owner", "practice_manager")
DELETE_ACCESS = "entire_practice"


def practice_id(name: str) -> str:
    """The id an approval names a practice by: ``Sunrise Counseling`` → ``sunrise-counseling``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")
    return slug or "practice"


def practice_name(desired: "DesiredState", target: "Target | None") -> str:
    """The config's ``practice.name``, else the database's practice name."""
    if desired.practice.name:
        return desired.practice.name
    if target is None:
        raise ReconcilerError("the practice name is needed: give --db (or set practice.name in the config)")
    from reconciler.errors import NoPractice

    with target.reading() as session:
        practice, _ = session.read_base()
    if practice is None:
        raise NoPractice()
    return practice.name


def staff_keys(desired: "DesiredState") -> dict[str, list[str]]:
    return {s.id: list(s.signing_keys) for s in desired.staff if s.signing_keys}


def may_approve(desired: "DesiredState", staff_id: str) -> bool:
    """Whether the config gives ``staff_id`` a role or access that may approve deletions
    (and declares the staff member active)."""
    spec = next((s for s in desired.staff if s.id == staff_id), None)
    if spec is None or not spec.active:
        return False
    role = spec.role.value if spec.role is not None else None
    access = spec.access.value if spec.access is not None else None
    return role in DELETE_ROLES or access == DELETE_ACCESS


def check_approvals(
    files: Sequence[Path],
    desired: "DesiredState",
    practice: str,
    client_ids: Iterable[str],
    *,
    now: dt.datetime,
) -> dict[str, str]:
    """Verify every ``--approval`` file and return, for each client to delete, the staff
    id who signed the approval covering it. Refuses (PlanRefused, exit 1) when a file
    does not verify or when a client is covered by none."""
    from reconciler.security.approval import ApprovalClientNotCovered, check_approval

    needed = sorted(set(client_ids))
    if not needed:
        return {}
    if not files:
        raise PlanRefused(
            f"the plan deletes client(s) {', '.join(needed)}: a signed approval is required "
            "(reconciler approve-delete ... --out FILE, then apply --approval FILE); "
            "nothing was changed"
        )
    keys = staff_keys(desired)
    approvals: list[Approval] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ReconcilerError(f"{path}: cannot read the approval ({exc.strerror or exc})") from None
        try:
            approvals.append(
                check_approval(
                    data,
                    practice=practice_id(practice),
                    client_ids_needed=(),
                    staff_keys=keys,
                    staff_may_delete=lambda sid: may_approve(desired, sid),
                    now=now,
                )
            )
        except PlanRefused as exc:
            raise PlanRefused(f"{path}: {exc}; nothing was changed") from None
    signers: dict[str, str] = {}
    for cid in needed:
        approval = next((a for a in approvals if a.covers(cid)), None)
        if approval is None:
            raise ApprovalClientNotCovered(f"no --approval covers the deletion of client {cid}; nothing was changed")
        signers[cid] = approval.signer
    return signers


def signer_for_key(desired: "DesiredState", private_key: Path) -> str:
    """The staff id whose ``signing_keys`` list the public half of ``private_key``."""
    from reconciler.security import sshsig

    try:
        blob = sshsig.public_key_blob(sshsig.public_key_line(private_key))
    except sshsig.SignatureError as exc:
        raise ReconcilerError(f"{private_key}: {exc}") from None
    for sid, lines in sorted(staff_keys(desired).items()):
        for line in lines:
            try:
                if sshsig.public_key_blob(line) == blob:
                    return sid
            except sshsig.SignatureError:
                continue
    raise ReconcilerError(
        f"{private_key}: its public key ({sshsig.fingerprint(blob)}) is not listed in any staff "
        "member's signing_keys in the config; add it there (or name the signer with --signer)"
    )


def make_approval_file(
    desired: "DesiredState",
    target: "Target | None",
    client_ids: Sequence[str],
    *,
    key: Path,
    expires: str,
    out: Path,
    signer: str | None,
    now: dt.datetime,
) -> tuple[str, str]:
    """Write an approval for ``client_ids`` signed with ``key``; returns (signer, practice id)."""
    from reconciler.security.approval import make_approval, parse_duration

    lifetime = parse_duration(expires)
    who = signer or signer_for_key(desired, key)
    practice = practice_id(practice_name(desired, target))
    text = make_approval(practice, client_ids, who, now + lifetime, key, created_at=now)
    try:
        out.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise ReconcilerError(f"{out}: cannot write the approval ({exc.strerror or exc})") from None
    return who, practice


__all__ = [
    "check_approvals",
    "make_approval_file",
    "may_approve",
    "practice_id",
    "practice_name",
    "signer_for_key",
    "staff_keys",
]
