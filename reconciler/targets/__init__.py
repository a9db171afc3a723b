"""Where the practice records live: one Target per kind of system (SPEC §6)."""
