"""The practice database: schema, engine, migrations, snapshots, reads and writes.

Kept import-free on purpose: ``reconciler.targets.native.schema`` and friends are imported
directly by the modules that need them, so importing this package is cheap.
"""
