"""Offboarding policies: which policy governs a professional, and what it needs. Pure."""

from __future__ import annotations

from reconciler.model.desired import (
    DesiredState,
    FutureSessions,
    OtherClients,
    PolicySpec,
    StaffSpec,
)

#: Values of ``clients_with_balance`` that are not a staff id.
ROLE_TARGETS = ("owner", "clinical_director", "successor")


def policy_name(desired: DesiredState, spec: StaffSpec | None) -> str:
    """The policy a professional is offboarded with: its ``offboarding`` key, else the
    practice's ``default_policy`` (``standard`` unless set). Unmanaged staff (``spec``
    None) use the default."""
    if spec is not None and spec.offboarding:
        return spec.offboarding
    return desired.practice.default_policy


def policy_for(desired: DesiredState, spec: StaffSpec | None) -> PolicySpec | None:
    """The :class:`PolicySpec` for a professional, or None when the name is unknown."""
    return desired.policy(policy_name(desired, spec))


def needs_successor(policy: PolicySpec) -> bool:
    """True when applying ``policy`` hands something to the successor."""
    return (
        policy.future_sessions is FutureSessions.TRANSFER
        or policy.other_clients is OtherClients.TRANSFER
        or policy.clients_with_balance == "successor"
    )


def balance_target_kind(policy: PolicySpec) -> str:
    """``owner`` | ``clinical_director`` | ``successor`` | ``staff`` (an explicit staff id)."""
    v = policy.clients_with_balance
    return v if v in ROLE_TARGETS else "staff"
