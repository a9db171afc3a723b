"""``python tests/paused_cli.py AFTER MARKER SECONDS -- reconciler ARGS``: the CLI, with
the executor's ``after_group`` seam injected so that after writer group AFTER (still
inside the open transaction) it writes MARKER and sleeps SECONDS — a test then kills
the process mid-transaction. Production code reads no test-only settings."""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path


def main() -> None:
    after, marker, seconds = int(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    args = sys.argv[sys.argv.index("--") + 1 :]

    def pause(done_groups: int) -> None:
        if done_groups == after:
            marker.write_text(f"{os.getpid()}\n", encoding="utf-8")
            time.sleep(seconds)

    import reconciler.app.executor as executor

    executor.apply_plan = functools.partial(executor.apply_plan, after_group=pause)  # type: ignore[assignment]
    from reconciler.cli import main as cli_main

    sys.argv = ["reconciler", *args]
    cli_main()


if __name__ == "__main__":
    main()
