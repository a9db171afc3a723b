"""``python -m reconciler``: the same as the ``reconciler`` command."""

from reconciler.cli import run

if __name__ == "__main__":  # pragma: no cover
    run()
