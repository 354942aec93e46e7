"""Benchmark: the reminder sweep and delivery (issue 4).

Run by hand (``python bench/sweep.py --help``); it is not part of the test suite.

Two SQLite portfolios, a large one (default 1,000,000 projects) and one a tenth of
its size, each with the same number of reviews due (default 10,000). The sweep is
timed on both: its cost should grow with what is due, not with the portfolio (target:
large / small <= 1.5). A third portfolio has ``--idle`` projects (default 100,000) all
overdue: after its first sweep reminds them all, a repeat sweep (the idle daemon's) is
timed against the small portfolio's first sweep (target: under 1%). Then the due
notifications of the small portfolio are delivered to a webhook receiver on 127.0.0.1
(the qiflow-webhook plugin) and the throughput is printed. It exits 0 unless something
errors: it measures, it does not test.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from seeding import connect, note, seed, sql_time

from qiflow import Engine, ManualClock
from qiflow.config import DaemonSettings, Settings
from qiflow.daemon import Daemon
from qiflow.logs import configure_logging
from qiflow.notify.civil_time import parse_window
from qiflow.notify.delivery import DeliverySettings
from qiflow.notify.reminders import ReminderPolicy

TARGET_RATIO = 1.5
#: An idle sweep (everything overdue already reminded) against one that enqueues ``--due``.
IDLE_SHARE = 0.01
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def make_due(path: Path, due: int) -> None:
    """Every project's review far ahead, except ``due`` of them, due yesterday."""
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "UPDATE qiflow_project SET next_review_at = ?", (sql_time(NOW + timedelta(days=90)),)
    )
    step = max(1, conn.execute("SELECT count(*) FROM qiflow_project").fetchone()[0] // due)
    conn.execute(
        "UPDATE qiflow_project SET next_review_at = ? WHERE number % ? = 0 AND number <= ?",
        (sql_time(NOW - timedelta(days=1)), step, step * due),
    )
    # a new review date starts its reminders afresh, as the engine does when it sets one
    conn.execute("UPDATE qiflow_project SET next_reminder_at = next_review_at")
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def timed_sweep(path: Path, policy: ReminderPolicy, repeats: int) -> dict[str, float]:
    """The first sweep (enqueues everything) and the fastest repeat (enqueues nothing).

    A sweep is what the daemon runs: due reminders, then notices of new events."""
    with Engine(f"sqlite:///{path}", clock=ManualClock(NOW)) as engine:
        started = time.perf_counter()
        new, _told = engine.sweep_notifications(policy, daemon="bench")
        first = time.perf_counter() - started
        again = []
        for _ in range(repeats):
            started = time.perf_counter()
            engine.sweep_notifications(policy, daemon="bench")
            again.append(time.perf_counter() - started)
    return {"enqueued": new, "first_s": first, "repeat_s": min(again)}


class Receiver(BaseHTTPRequestHandler):
    keys: ClassVar[set[str]] = set()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.lock:
            self.keys.add(self.headers.get("idempotency-key", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def delivery(path: Path, policy: ReminderPolicy) -> dict[str, float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        settings = Settings(
            policy=policy,
            channels={"webhook": {"url": url}},
            daemon=DaemonSettings(delivery=DeliverySettings(digest=False)),
        )
        with Engine(f"sqlite:///{path}", clock=ManualClock(NOW)) as engine:
            worker = Daemon(engine, settings, name="bench")
            if "webhook" not in worker.channels:
                raise SystemExit(
                    "install the webhook channel: pip install -e plugins/qiflow-webhook"
                )
            started, sent = time.perf_counter(), 0
            while True:
                report = worker.deliver_once()
                if not report.claimed:
                    break
                sent += report.sent
            elapsed = time.perf_counter() - started
    finally:
        server.shutdown()
    return {
        "sent": sent,
        "seconds": elapsed,
        "per_second": sent / elapsed,
        "distinct_keys": len(Receiver.keys),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1_000_000, help="the large portfolio")
    parser.add_argument("--due", type=int, default=10_000, help="reviews due in each")
    parser.add_argument("--repeats", type=int, default=3, help="repeat sweeps timed")
    parser.add_argument(
        "--idle", type=int, default=100_000, help="overdue, already reminded projects (idle)"
    )
    parser.add_argument("--dir", type=Path, help="where to put the SQLite files")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--no-delivery", action="store_true", help="time the sweeps only, deliver nothing"
    )
    args = parser.parse_args()
    configure_logging(level="warning")
    # digest off and an always-open window: every due review is one message now
    policy = ReminderPolicy(
        window=parse_window("mon-sun", "00:00-23:59"),
        digest=False,
        routing={"reminder": ("webhook",), "escalation": ("webhook",)},
    )
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="qiflow-sweep-"))
    results: dict[str, Any] = {"due": args.due}
    for label, size in (("small", args.projects // 10), ("large", args.projects)):
        path = workdir / f"{label}.db"
        path.unlink(missing_ok=True)
        note(f"seeding {size:,} projects ({label})")
        seed(path, size)
        make_due(path, args.due)
        results[label] = {"projects": size, **timed_sweep(path, policy, args.repeats)}
    results["ratio_first"] = results["large"]["first_s"] / results["small"]["first_s"]
    results["ratio_repeat"] = results["large"]["repeat_s"] / results["small"]["repeat_s"]
    note(f"idle sweep: {args.idle:,} projects overdue and already reminded")
    path = workdir / "idle.db"
    path.unlink(missing_ok=True)
    seed(path, args.idle)
    make_due(path, args.idle)
    results["idle"] = {"projects": args.idle, **timed_sweep(path, policy, args.repeats)}
    results["idle_share"] = results["idle"]["repeat_s"] / results["small"]["first_s"]
    if not args.no_delivery:
        note("delivering the small portfolio's notifications to a local webhook receiver")
        results["delivery"] = delivery(workdir / "small.db", policy)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"sweep with {args.due:,} reviews due (SQLite, one transaction):")
    for label in ("small", "large"):
        r = results[label]
        print(
            f"  {r['projects']:>9,} projects: first sweep {r['first_s'] * 1000:8.1f} ms "
            f"({r['enqueued']:,} enqueued), repeat {r['repeat_s'] * 1000:8.1f} ms"
        )
    print(
        f"  ratio large/small: first {results['ratio_first']:.2f}, "
        f"repeat {results['ratio_repeat']:.2f}"
    )
    if "delivery" in results:
        d = results["delivery"]
        print(
            f"delivery to a local webhook: {d['sent']:,} notifications in {d['seconds']:.1f} s "
            f"= {d['per_second']:,.0f}/s ({d['distinct_keys']:,} distinct idempotency keys)"
        )
    i = results["idle"]
    print(
        f"idle sweep, {i['projects']:,} projects overdue and already reminded: "
        f"{i['repeat_s'] * 1000:.1f} ms = {results['idle_share']:.2%} of the small portfolio's "
        f"first sweep ({results['small']['enqueued']:,} enqueued)"
    )
    verdict = "PASS" if results["ratio_first"] <= TARGET_RATIO else "FAIL"
    print(f"{verdict}  sweep ratio large/small <= {TARGET_RATIO}: {results['ratio_first']:.2f}")
    verdict = "PASS" if results["idle_share"] < IDLE_SHARE else "FAIL"
    print(f"{verdict}  idle sweep < {IDLE_SHARE:.0%} of a sweep enqueuing {args.due:,}")


if __name__ == "__main__":
    main()
