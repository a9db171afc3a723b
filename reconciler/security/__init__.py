"""Trust primitives of SPEC §7, each self-contained and free of database code.

- :mod:`.chain` — the audit hash chain (§7.1): canonical event hashing, streaming verify.
- :mod:`.sshsig` — SSH signatures in ``ssh-keygen -Y sign`` format (PROTOCOL.sshsig).
- :mod:`.approval` — signed client-deletion approvals (§7.2).
- :mod:`.actor` — validation of the actor name written into the audit trail.

Every error raised here is a :class:`reconciler.errors.ReconcilerError` (exit 1) whose
message names ids only, never a client's name.
"""
