"""Soak (issue 8): 3 daemons and 4 writer processes on one PostgreSQL for 90 seconds, one
daemon killed with kill -9 and restarted at random twice, a durable subscriber counting
events and a local HTTP receiver counting notification keys. Nothing may be lost; repeats
are bounded by the messages in flight at the kills. Run it alone with ``-m soak``."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from qiflow import Engine, Event
from tests.daemon_support import (
    child_env,
    daemon_config,
    daemons,
    receiving,
    sigterm_and_wait,
    wait_until,
    write_config,
)

SECONDS, WRITERS, KILLS = 90, 4, 2

WRITER = """
import sys, time
from qiflow import Engine
from qiflow.builtin.qeia import DOMAINS
url, seconds, me = sys.argv[1], float(sys.argv[2]), sys.argv[3]
low = {"scores": {d: {"impact": 2, "likelihood": 2} for d in DOMAINS}}
end, made = time.monotonic() + seconds, 0
with Engine(url) as engine:
    while time.monotonic() < end:
        project = engine.create_project(f"{me} {made}", actor=me, owner=me, sponsor=f"s-{me}")
        engine.request_signoff(project.ref, "qeia", low, actor=me)
        made += 1
print(made)
"""


@pytest.mark.soak
def test_soak_three_daemons_four_writers_two_kills(pg_url: str, tmp_path: Path) -> None:
    rng = random.Random()
    config = write_config(
        tmp_path / "qiflow.toml",
        daemon_config(lease=5, read_timeout=2, connect_timeout=1, batch=20).replace(
            "[routing]\n", '[routing]\nevent = ["webhook"]\n'
        ),
    )
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    seen: Counter[int] = Counter()
    stop = threading.Event()
    with Engine(pg_url) as engine:
        engine.subscribe("qiflow.notices", from_seq=0)
        engine.subscribe("soak.counter", from_seq=0)

        def count(event: Event) -> None:
            seen[event.seq] += 1

        counter = threading.Thread(
            target=engine.consume,
            args=("soak.counter", count),
            kwargs={"stop": stop.is_set, "poll": 0.2},
        )
        counter.start()
        try:
            with (
                receiving(delay=0.05) as receiver,
                daemons(pg_url, config, receiver.url, tmp_path) as group,
            ):
                names = ["d1", "d2", "d3"]
                running = {name: group.start(name) for name in names}
                writers = [
                    subprocess.Popen(
                        [sys.executable, str(script), pg_url, str(SECONDS), f"w{i}"],
                        env=child_env(receiver.url),
                        stdout=subprocess.PIPE,
                    )
                    for i in range(WRITERS)
                ]
                started = time.monotonic()
                for at in sorted(rng.uniform(10, SECONDS - 10) for _ in range(KILLS)):
                    time.sleep(max(0.0, started + at - time.monotonic()))
                    victim = rng.choice(names)
                    running[victim].send(signal.SIGKILL)
                    running[victim].wait(10)
                    time.sleep(1)
                    running[victim] = group.start(victim)
                made = []
                for writer in writers:
                    out, _ = writer.communicate(timeout=SECONDS + 120)
                    assert writer.returncode == 0
                    made.append(int(out))

                def settled() -> bool:
                    status = engine.outbox_status().counts
                    top = engine.subscription_head()
                    cursors = {s.name: s.position for s in engine.subscribers()}
                    return (
                        set(status) <= {"sent"}
                        and cursors.get("qiflow.notices") == top
                        and cursors.get("soak.counter") == top
                    )

                wait_until(settled, 180, "every notice sent and every event counted", step=1)
                sigterm_and_wait(group, 30)
                logs = group.logs()
            stop.set()
            counter.join(30)
            trail = {e.seq for e in engine.events_after(0, limit=1_000_000)}
            rows = engine.outbox(limit=1_000_000)
        finally:
            stop.set()
    assert sum(made) > 0, logs
    assert set(seen) == trail, "the durable subscriber lost events"
    assert max(seen.values()) == 1
    keys = Counter(a.key for a in receiver.snapshot())
    expected = {r.message_key for r in rows}
    assert rows, "no notification was made"
    assert expected <= set(keys), "notifications were lost"
    repeats = sum(n - 1 for n in keys.values())
    assert repeats <= KILLS, f"{repeats} repeats for {KILLS} kills (one message in flight each)"
