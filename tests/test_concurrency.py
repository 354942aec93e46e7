"""Many threads firing conflicting transitions at one project: one winner per version."""

from __future__ import annotations

import threading

from qiflow import ConcurrencyConflict, Engine
from tests.helpers import OWNER, new_project

#: Also run through PgBouncer in transaction mode when QIFLOW_TEST_PGBOUNCER_URL is set.
THROUGH_PGBOUNCER = True

THREADS, ATTEMPTS = 8, 200


def test_conflicting_fires_one_success_per_version(engine: Engine) -> None:
    project = new_project(engine)
    start = threading.Barrier(THREADS)
    wins: list[list[int]] = [[] for _ in range(THREADS)]
    conflicts = [0] * THREADS
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            start.wait()
            for _ in range(ATTEMPTS):
                seen = engine.get(project.ref)
                trigger = "resume" if seen.state == "on_hold" else "pause"
                try:
                    after = engine.fire(
                        project.ref, trigger, actor=OWNER, expected_version=seen.version
                    )
                except ConcurrencyConflict:
                    conflicts[index] += 1
                else:
                    wins[index].append(after.version)
        except BaseException as exc:  # surfaced below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = sorted(v for won in wins for v in won)
    successes = len(versions)
    assert successes + sum(conflicts) == THREADS * ATTEMPTS
    # exactly one success per version: versions 2..N+1, each once
    assert versions == list(range(2, successes + 2))
    assert sum(conflicts) > 0, "the threads really did race"
    final = engine.get(project.ref)
    assert final.version == successes + 1
    events = engine.history(project.ref)
    assert sum(e.type == "project.transitioned" for e in events) == successes
    assert engine.verify_audit() == []
