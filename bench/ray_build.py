"""Benchmark: the index built on a local two-node Ray cluster (issue 18), in one run.

Inside a loopback-only network namespace (scripts/loopback_only.py; the script re-runs itself
there), on the first ``--articles`` ANT articles:

1. a single-process build (``build_index`` with the int8 passage encoder): the reference;
2. a two-node cluster: ``ray start --head --num-cpus 1`` plus ``ray start --address ...
   --num-cpus 1`` (token authentication on), then builds with one worker and with two: wall
   time and the embedding phase's sentences/s, and each result against the reference (same
   articles, sentences and offsets; vector cosine; the same top-1 sentence for
   ``--questions`` questions);
3. a worker process killed with SIGKILL at 30% of the embedding: the build finishes, counts
   match, nothing doubled;
4. a worker node stopped (its raylet killed) at 30%: the head node's worker finishes;
5. the driver (``daleel build --ray``) killed with SIGKILL once chunks are checkpointed, while
   adding ``--more`` articles to a live index: the previous generation stays live and the rerun
   embeds only what no checkpoint holds.

Then writes ``bench/results/ray_build.json`` and prints a table.

    .venv/bin/python bench/ray_build.py [--articles 2000] [--questions 200] [--more 300]

Data: ../shared/data/ant_news_v2.1.jsonl.gz (third-party, read in place; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import faulthandler
import gzip
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ANT = REPO.parent / "shared" / "data" / "ant_news_v2.1.jsonl.gz"
RESULTS = REPO / "bench" / "results"
RAY = str(Path(sys.executable).with_name("ray"))
PORT = 6390
ISOLATED = "DALEEL_BENCH_ISOLATED"


def ant_lines(start: int, n: int) -> list[str]:
    out = []
    with gzip.open(ANT, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= start + n:
                break
            if i >= start:
                out.append(line)
    return out


def start_cluster(tmp: Path) -> None:
    token = tmp / "ray-token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token),
                      RAY_TMPDIR=str(tmp / "ray"))
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    subprocess.run([RAY, "start", "--head", "--port", str(PORT), "--include-dashboard=false",
                    *common], check=True, capture_output=True)
    subprocess.run([RAY, "start", "--address", f"127.0.0.1:{PORT}", *common], check=True,
                   capture_output=True)


def stop_cluster() -> None:
    subprocess.run([RAY, "stop", "--force"], capture_output=True)


def second_raylet() -> int:
    """The pid of the raylet of the node that ``ray start --address`` added (the newest)."""
    pids = subprocess.run(["pgrep", "-x", "raylet"], capture_output=True, text=True).stdout.split()
    return max(int(p) for p in pids)


class Timer:
    """The build's progress callback: when embedding started and ended; an action at 30%."""

    def __init__(self, at_30=None) -> None:
        self.first = self.last = None
        self.total = 0
        self.at_30, self.fired = at_30, False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        self.first = self.first or now
        self.last, self.total = now, total
        if self.at_30 and not self.fired and done >= 0.3 * total:
            self.fired = True
            self.at_30()

    @property
    def rate(self) -> float:
        return self.total / (self.last - self.first) if self.last and self.last > self.first else 0


def build(corpus: Path, out: Path, *, cluster=None, encoder=None, at_30=None) -> dict:
    from index.build import build_index

    timer = Timer(at_30)
    start = time.perf_counter()
    report = build_index([corpus], out, encoder=encoder, cluster=cluster, progress=timer)
    return {"wall_s": round(time.perf_counter() - start, 1),
            "embed_s": round((timer.last or 0) - (timer.first or 0), 1),
            "sentences_per_s": round(timer.rate, 1), "articles": report.articles,
            "sentences": report.sentences, "embedded": report.embedded}


def compare(ref_dir: Path, other_dir: Path, questions: list[str], bots: dict) -> dict:
    """Same articles, rows and offsets; vector cosine; same top-1 for every question."""
    from index import store
    from qa import Assistant

    a, b = store.load(ref_dir), store.load(other_dir)
    same_articles = [(x.id, x.title, x.text) for x in a.articles] == [
        (x.id, x.title, x.text) for x in b.articles]
    rows_a, rows_b = ({(d.articles[r[0]].id, r[1], r[2]): i
                       for i, r in enumerate(d.sentences.array.tolist())} for d in (a, b))
    same_rows = rows_a.keys() == rows_b.keys() and len(rows_b) == len(b.sentences.array)
    order = list(rows_a)
    va = np.asarray(a.vectors[np.array([rows_a[k] for k in order])])
    vb = np.asarray(b.vectors[np.array([rows_b[k] for k in order])]) if same_rows else va * 0
    cos = (va * vb).sum(1) / (np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1))
    ref = bots.setdefault(str(ref_dir), Assistant.load(ref_dir, watch=False, reader=False))
    other = Assistant(other_dir, ref.encoder, watch=False)
    top = [(h[0].article_id, h[0].start) for h in ref.search_batch(questions, k=1)]
    top_b = [(h[0].article_id, h[0].start) for h in other.search_batch(questions, k=1)]
    return {"same_articles": same_articles, "same_sentences_and_offsets": same_rows,
            "min_cosine": round(float(cos.min()), 6),
            "same_top1": f"{sum(x == y for x, y in zip(top, top_b, strict=True))}/{len(top)}"}


def driver_kill(corpus: Path, live: Path, more: list[str], tmp: Path) -> dict:
    """Kill ``daleel build --ray`` once chunks are checkpointed; the index stays as it was."""
    from index import store
    from index.build import CHECKPOINT_DIR

    work = tmp / "grown"
    shutil.copytree(live, work)
    (corpus / "more.jsonl").write_text("".join(more), "utf-8")
    before = store.read_live(work).generation.name
    cmd = [sys.executable, "-m", "qa", "build", str(corpus), "--index", str(work), "--ray",
           f"127.0.0.1:{PORT}"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = work / CHECKPOINT_DIR
    deadline = time.time() + 300
    while time.time() < deadline and len(list(checkpoints.rglob("chunk-*.npz"))) < 2:
        time.sleep(0.05)
    chunks = len(list(checkpoints.rglob("chunk-*.npz")))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    live_after = store.read_live(work).generation.name
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    (corpus / "more.jsonl").unlink()
    summary = next((line.strip() for line in rerun.stdout.splitlines() if "embedded" in line), "")
    return {"checkpointed_chunks_at_kill": chunks, "previous_generation_live": live_after == before,
            "rerun_exit": rerun.returncode, "rerun": summary,
            "articles_after": store.read_live(work).manifest["counts"]["articles"]}


def stage(name: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {name}", file=sys.stderr, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--articles", type=int, default=2000)
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--more", type=int, default=300)
    p.add_argument("--out", type=Path, default=RESULTS / "ray_build.json")
    args = p.parse_args()
    if not os.environ.get(ISOLATED):
        os.environ[ISOLATED] = "1"
        os.execv(sys.executable, [sys.executable, str(REPO / "scripts" / "loopback_only.py"),
                                  sys.executable, *sys.argv])
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 PID prints where it is
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from live_update import questions as headline_questions

    from index.cluster import RayCluster
    from index.encoder.light import passage_encoder
    from qa import Assistant

    tmp = Path(tempfile.mkdtemp(prefix="daleel-ray-"))
    corpus = tmp / "corpus"
    corpus.mkdir()
    (corpus / "ant.jsonl").write_text("".join(ant_lines(0, args.articles)), "utf-8")
    out: dict = {"articles": args.articles}
    stage('single-process build')
    out["single_process"] = build(corpus, tmp / "ref", encoder=passage_encoder(
        None, backend="openvino-int8"))
    ref = Assistant.load(tmp / "ref", watch=False, reader=False)
    qs = headline_questions(ref, args.questions)
    bots = {str(tmp / "ref"): ref}
    stage('starting the two-node cluster')
    start_cluster(tmp)
    try:
        for workers in (1, 2):
            stage(f"cluster build, {workers} worker(s)")
            with RayCluster(f"127.0.0.1:{PORT}", workers=workers) as cluster:
                run = build(corpus, tmp / f"ray{workers}", cluster=cluster)
            out[f"ray_{workers}_worker"] = run | compare(tmp / "ref", tmp / f"ray{workers}",
                                                         qs, bots)
        out["speedup_2_vs_1"] = round(out["ray_2_worker"]["sentences_per_s"]
                                      / out["ray_1_worker"]["sentences_per_s"], 2)
        out["ray_2_worker_wall_ratio"] = round(out["ray_1_worker"]["wall_s"]
                                               / out["ray_2_worker"]["wall_s"], 2)
        stage('driver killed')
        out["driver_killed"] = driver_kill(corpus, tmp / "ref",
                                           ant_lines(args.articles, args.more), tmp)

        stage('worker killed')
        with RayCluster(f"127.0.0.1:{PORT}", workers=2) as cluster:
            held = {}

            def encoder():
                held["e"] = cluster.encoder()
                return held["e"]

            def kill_worker():
                os.kill(held["e"].pids[1], signal.SIGKILL)

            run = build(corpus, tmp / "killed", cluster=cluster, encoder=encoder,
                        at_30=kill_worker)
            held.clear()
            out["worker_killed"] = run | {"lost": cluster.faults.lost,
                                          "resent": cluster.faults.resent} | compare(
                tmp / "ref", tmp / "killed", qs, bots)

        stage('worker node stopped')
        with RayCluster(f"127.0.0.1:{PORT}", workers=2) as cluster:
            run = build(corpus, tmp / "node", cluster=cluster,
                        at_30=lambda: os.kill(second_raylet(), signal.SIGKILL))
            out["node_stopped"] = run | {"lost": cluster.faults.lost,
                                         "resent": cluster.faults.resent} | compare(
                tmp / "ref", tmp / "node", qs, bots)
    finally:
        stop_cluster()
    out.update(machine=f"{platform.machine()} {os.cpu_count()} cpu",
               load_average=[round(x, 2) for x in os.getloadavg()],
               date=time.strftime("%Y-%m-%d %H:%M"))
    shutil.rmtree(tmp, ignore_errors=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
