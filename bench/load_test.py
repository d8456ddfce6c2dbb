"""Load test: many simultaneous questions to the running chat server on 127.0.0.1.

Starts `daleel serve` on a free local port over an index, then sends --requests questions from
--clients concurrent clients (each its own Gradio session) and reports failures, p50/p95
latency and throughput. Traffic stays on the loopback interface; the run is bounded.

    .venv/bin/python bench/load_test.py --index DIR [--clients 20 --requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "كم عدد الجنود غير الأمريكيين في العراق؟",
    "متى اتفقت بغداد وواشنطن على سحب القوات الأمريكية المقاتلة؟",
    "منذ متى تتواجد أمريكا في العراق؟",
    "ما الإطار الزمني الذي طالبت به الولايات المتحدة للانسحاب؟",
    "أين يمكن أن تحافظ الولايات المتحدة على وجودها؟",
    "How many non-American troops are in Iraq?",
    "ما هي عاصمة اليابان؟",
    "متى أقر البرلمان العراقي خطة طرد الجنود الأميركيين؟",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    sys.exit("server did not start in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--index", str(args.index), "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(url, server)
        result = run_load(url, args.clients, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = REPO / "bench" / "results" / "load_test.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("| metric | value |\n|---|---|")
    for k, v in result.items():
        print(f"| {k} | {v} |")


def run_load(url: str, clients: int, requests: int) -> dict:
    from gradio_client import Client

    latencies: list[float] = []
    failures: list[str] = []
    answered = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        nonlocal answered
        client = Client(url, verbose=False)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            question = QUESTIONS[i % len(QUESTIONS)]
            start = time.perf_counter()
            try:
                out = client.predict(question, api_name="/ask")
                ok = question in json.dumps(out, ensure_ascii=False)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                ok, out = False, repr(exc)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)
                if ok:
                    answered += 1
                else:
                    failures.append(str(out)[:200])

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "clients": clients,
        "requests": requests,
        "succeeded": answered,
        "failed": len(failures),
        "first_failures": failures[:3],
        "p50_ms": round(statistics.median(latencies)),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))]),
        "throughput_per_s": round(requests / wall, 1),
        "wall_s": round(wall, 1),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


if __name__ == "__main__":
    main()
