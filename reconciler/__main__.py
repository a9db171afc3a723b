"""``python -m reconciler``: the same as the ``reconciler`` command."""

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
