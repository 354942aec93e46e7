"""Benchmark: transitions fired over HTTP against a real ``qiflow serve`` on 127.0.0.1.

Run by hand (``python bench/http_api.py --help``); it is not part of the test suite.

A SQLite file gets ``--projects`` projects and a write token. ``qiflow serve`` (uvicorn)
runs in its own process. Timed fires alternate ``pause`` and ``resume``, each with
``If-Match`` (the version the last answer gave), over keep-alive connections: first
with one client, then with ``--clients`` concurrent clients (threads, one project each,
so they never conflict). In the same run, ``Engine.fire`` in process does the same
fires on the same database, interleaved in blocks with the one-client HTTP run, and the
ratio HTTP / in process is reported (aim: at least 0.5 with one client).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from qiflow import Engine
from qiflow.logs import configure_logging

OWNER, SPONSOR = "olivia", "sam"
AIM_RATIO = 0.5
BLOCK = 200  # fires per interleaved block; even, so each block ends on a resume


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Firer:
    """Fires pause/resume on one project, remembering its version."""

    def __init__(self, fire: Callable[[str, str, int], int], ref: str, version: int) -> None:
        self.fire, self.ref, self.version = fire, ref, version
        self.paused = False

    def step(self) -> float:
        trigger = "resume" if self.paused else "pause"
        started = time.perf_counter()
        self.version = self.fire(self.ref, trigger, self.version)
        elapsed = time.perf_counter() - started
        self.paused = not self.paused
        return elapsed


def http_fire(client: httpx.Client) -> Callable[[str, str, int], int]:
    def fire(ref: str, trigger: str, version: int) -> int:
        response = client.post(
            f"/api/v1/projects/{ref}/fire",
            json={"trigger": trigger},
            headers={"If-Match": f'"{version}"'},
        )
        if response.status_code != 200:
            raise RuntimeError(f"{ref} {trigger}: {response.status_code} {response.text}")
        return int(response.headers["etag"].strip('"'))

    return fire


def engine_fire(engine: Engine) -> Callable[[str, str, int], int]:
    def fire(ref: str, trigger: str, version: int) -> int:
        return engine.fire(ref, trigger, actor=OWNER, expected_version=version).version

    return fire


def summary(name: str, samples: list[float], wall: float) -> dict[str, object]:
    return {
        "name": name,
        "fires": len(samples),
        "fires_per_s": round(len(samples) / wall, 1),
        "p50_ms": round(percentile(samples, 0.50) * 1000, 2),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 2),
    }


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QIFLOW_DATABASE_URL": url}
    server = subprocess.Popen(
        [sys.executable, "-m", "qiflow", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("qiflow serve did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fires", type=int, default=4000, help="fires per one-client run")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=200, help="fires per client")
    args = parser.parse_args()
    configure_logging(level="warning")
    directory = Path(tempfile.mkdtemp(prefix="qiflow-bench-http-"))
    url = f"sqlite:///{directory / 'bench.db'}"
    with Engine(url, migrate=True) as engine:
        projects = [
            engine.create_project(f"Bench {i}", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
            for i in range(args.clients + 2)
        ]
        _token, text = engine.create_token(actor=OWNER, scope="write", created_by="bench")
        port = free_port()
        server = start_server(url, port)
        headers = {"Authorization": f"Bearer {text}"}
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, headers=headers) as client:
                over_http = Firer(http_fire(client), projects[0].ref, projects[0].version)
                in_process = Firer(engine_fire(engine), projects[1].ref, projects[1].version)
                for _ in range(BLOCK):  # warm both paths up
                    over_http.step()
                    in_process.step()
                http_samples: list[float] = []
                engine_samples: list[float] = []
                http_wall = engine_wall = 0.0
                for _ in range(max(1, args.fires // BLOCK)):
                    started = time.perf_counter()
                    http_samples += [over_http.step() for _ in range(BLOCK)]
                    http_wall += time.perf_counter() - started
                    started = time.perf_counter()
                    engine_samples += [in_process.step() for _ in range(BLOCK)]
                    engine_wall += time.perf_counter() - started
            concurrent_samples: list[float] = []
            lock = threading.Lock()
            barrier = threading.Barrier(args.clients + 1)

            def worker(index: int) -> None:
                project = projects[2 + index % args.clients]
                with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                    firer = Firer(http_fire(client), project.ref, engine.get(project.ref).version)
                    barrier.wait()
                    mine = [firer.step() for _ in range(args.per_client)]
                with lock:
                    concurrent_samples.extend(mine)

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
            for thread in threads:
                thread.start()
            barrier.wait()
            started = time.perf_counter()
            for thread in threads:
                thread.join()
            concurrent_wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    results = [
        summary("Engine.fire in process", engine_samples, engine_wall),
        summary("HTTP, 1 client", http_samples, http_wall),
        summary(f"HTTP, {args.clients} concurrent clients", concurrent_samples, concurrent_wall),
    ]
    ratio = (len(http_samples) / http_wall) / (len(engine_samples) / engine_wall)
    print(
        json.dumps(
            {
                "results": results,
                "ratio_http_1_client_to_engine": round(ratio, 3),
                "aim": AIM_RATIO,
            },
            indent=2,
        )
    )
    print("| | fires/s | p50 | p99 |\n| --- | --- | --- | --- |")
    for row in results:
        print(
            f"| {row['name']} | {row['fires_per_s']:,} | {row['p50_ms']} ms | {row['p99_ms']} ms |"
        )
    print(f"\nRatio HTTP (1 client) / Engine.fire: {ratio:.2f} (aim >= {AIM_RATIO})")


if __name__ == "__main__":
    main()
