#!/usr/bin/env python
"""Regenerate tests/golden/<example>.<txt|json|md|html> from the shipped examples.

Usage: .venv/bin/python scripts/update_goldens.py [EXAMPLE ...]

Plans each example config dir against examples/practice.yaml at the fixed time
tests/render/test_golden.py uses, on a throw-away SQLite database, and writes the text,
JSON (generated_at normalised) Markdown and HTML renderings. Read the git diff of
tests/golden/ before committing: it is the reviewable record of what changed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "render")]

from test_golden import EXAMPLES, GOLDEN_DIR, golden_texts  # noqa: E402


def main(argv: list[str]) -> int:
    """Write the golden files of the named examples (default: all); print what changed."""
    examples = argv or list(EXAMPLES)
    unknown = sorted(set(examples) - set(EXAMPLES))
    if unknown:
        print(f"unknown example(s): {', '.join(unknown)}; known: {', '.join(EXAMPLES)}", file=sys.stderr)
        return 1
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for example in examples:
        with tempfile.TemporaryDirectory() as tmp:
            texts = golden_texts(f"sqlite:///{Path(tmp) / 'practice.db'}", example)
        for ext, text in texts.items():
            path = GOLDEN_DIR / f"{example}.{ext}"
            old = path.read_text(encoding="utf-8") if path.exists() else None
            if old != text:
                path.write_text(text, encoding="utf-8")
            print(f"{'unchanged' if old == text else 'wrote'} {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
