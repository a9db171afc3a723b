"""Targets: the systems whose records the reconciler reads and changes (SPEC §6)."""
