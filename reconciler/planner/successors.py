"""Successor chains (SPEC §3.3). Pure.

A successor must be declared, active on the date it takes over, and not itself
leaving earlier; a chain A → B → C where B is gone by then resolves to C; a cycle
is an error. ``leaves`` maps every known staff id to the first date on which it is
inactive (None: stays). A staff id absent from ``leaves`` is unknown.
"""

from __future__ import annotations

import datetime as dt
from typing import Mapping


class SuccessorError(ValueError):
    """A successor chain cannot be resolved; the message names the chain.

    ``kind`` is ``"none"`` (no successor), ``"cycle"``, ``"unknown"`` (a successor
    nobody knows) or ``"ends"`` (the chain ends at someone inactive on the date);
    ``chain`` is the walk so far, ending with the id that broke it."""

    def __init__(self, message: str, kind: str, chain: list[str]) -> None:
        super().__init__(message)
        self.kind = kind
        self.chain = chain


def active_on(leaves: Mapping[str, dt.date | None], staff_id: str, day: dt.date) -> bool:
    """Whether a known professional is still active on ``day``."""
    if staff_id not in leaves:
        return False
    first_inactive = leaves[staff_id]
    return first_inactive is None or first_inactive > day


def resolve(
    start: str,
    successor_of: Mapping[str, str | None],
    leaves: Mapping[str, dt.date | None],
    on: dt.date,
    *,
    prefer_permanent: bool = False,
) -> str:
    """The professional who takes over from ``start`` on ``on``.

    Follows ``successor_of`` past every professional who is inactive on ``on``. With
    ``prefer_permanent`` (open-ended things such as a recurring series) it also walks
    past professionals who leave later but name a successor themselves, so the
    series lands with someone who stays. Raises :class:`SuccessorError`.
    """
    chain = [start]
    cur = successor_of.get(start)
    if cur is None:
        raise SuccessorError(f"{start} has no successor", "none", chain)
    while True:
        if cur in chain:
            raise SuccessorError("successor cycle: " + " -> ".join(chain + [cur]), "cycle", chain + [cur])
        if cur not in leaves:
            raise SuccessorError(
                f"successor {cur} of {chain[-1]} is not a known professional", "unknown", chain + [cur]
            )
        chain.append(cur)
        is_active = active_on(leaves, cur, on)
        nxt = successor_of.get(cur)
        if is_active and (leaves[cur] is None or not prefer_permanent or nxt is None):
            return cur
        if nxt is None:
            raise SuccessorError(
                f"successor chain {' -> '.join(chain)} ends at {cur}, who is not active on {on.isoformat()}",
                "ends",
                list(chain),
            )
        cur = nxt


def find_cycles(successor_of: Mapping[str, str | None]) -> list[list[str]]:
    """Every successor cycle once, each rotated to start at its smallest id, sorted."""
    cycles: set[tuple[str, ...]] = set()
    for start in sorted(successor_of):
        path: list[str] = []
        cur: str | None = start
        while cur is not None and cur not in path:
            path.append(cur)
            cur = successor_of.get(cur)
        if cur is not None:
            cyc = path[path.index(cur) :]
            i = cyc.index(min(cyc))
            cycles.add(tuple(cyc[i:] + cyc[:i]))
    return [list(c) for c in sorted(cycles)]
