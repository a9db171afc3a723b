"""The conformance suite every target passes (issue 9, SPEC §6).

* :mod:`.harness` — the :class:`~.harness.Harness` protocol a target's author implements
  (make an empty database, seed a world, book a session, read facts back, fingerprint
  protected tables) and the target-neutral :class:`~.harness.Facts`;
* :mod:`.world` — the world every target is seeded with and the instant the scenarios run at;
* :mod:`.scenarios` — the scenarios, run through the CLI with ``--target``, and
  :func:`~.scenarios.run_scenario`.

How to run it against a new target: ``docs/targets.md``.
"""
