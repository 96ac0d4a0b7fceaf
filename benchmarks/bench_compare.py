"""Time comparing and ranking 1,000 runs from a local sqlite store.

Creates the runs with ``MlflowClient.log_batch`` (shaped like the runner's: 46
metrics, 60 params, 30 tags each, in 4 sweeps), then times

- reading them with only the needed columns (``route=sql``) and through
  ``MlflowClient.search_runs`` (``route=client``, every column);
- building and rendering the comparison and a selection, in process;
- the whole command line, ``python -m runner.compare``, in a fresh process
  (imports included), for the table, a selection and a sweep id.

Usage::

    python benchmarks/bench_compare.py              # 1,000 runs in a temp folder
    python benchmarks/bench_compare.py --runs 200 --store /tmp/bench.db
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

BINARY = (
    "accuracy", "precision", "recall", "f1", "specificity", "balanced_accuracy",
    "mcc", "tp", "fp", "tn", "fn", "roc_auc", "pr_auc", "log_loss", "brier",
)  # fmt: skip
MODELS = ("dummy", "logreg", "rf", "hgb", "svm", "knn")
DIAGNOSTICS = ("accuracy_paradox", "overfitting", "leakage_duplicates")


def create_store(path: Path, runs: int, seed: int = 0) -> None:
    """Fill a new sqlite store with ``runs`` runner-shaped runs."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    rng = random.Random(seed)
    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    # No artifacts are logged; the location only keeps MLflow's default
    # (./mlruns of the current folder) out of the runs' records.
    artifacts = (path.parent / "artifacts").as_uri()
    experiment = client.create_experiment("runner", artifact_location=artifacts)
    now = int(time.time() * 1000)
    for i in range(runs):
        model = MODELS[i % len(MODELS)]
        tags = {
            "runner.choice.model": model,
            "runner.choice.dataset": "csv",
            "runner.choice.split": "holdout",
            "runner.choice.metrics": "default",
            "runner.choice.tracking": "local",
            "runner.task": "binary",
            "runner.primary_metric": "f1",
            "runner.positive_label": "yes",
            "runner.data_digest": "d" * 16,
            "runner.metrics_fingerprint": "f" * 16,
            "runner.metrics_version": "1",
            "runner.config_hash": f"{i:016x}",
            "runner.sweep_id": f"sweep-{i % 4}",
            "runner.git_commit": "0" * 40,
            **{f"diagnostic.{d}": rng.choice(("ok", "warn")) for d in DIAGNOSTICS},
            **{f"diagnostic.{d}.reason": "x" * 60 for d in DIAGNOSTICS},
            **{f"runner.extra{k}": "v" * 40 for k in range(9)},
        }
        run = client.create_run(experiment, run_name=f"{model}-bank-{i}", tags=tags)
        metrics = [
            Metric(f"{split}/{name}", rng.random(), now, 0)
            for split in ("train", "val", "test")
            for name in BINARY
        ]
        metrics.append(Metric("gap/f1", rng.random() / 5, now, 0))
        params = [Param(f"model.p{k}", str(rng.random())) for k in range(60)]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id)


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Fastest wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cli(uri: str, *args: str) -> float:
    """Wall time of one ``python -m runner.compare`` process."""
    cmd = [sys.executable, "-m", "runner.compare", "--tracking-uri", uri, *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed:\n{proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--store", type=Path, help="reuse or create this .db file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "mlflow.db"
        if not path.exists():
            start = time.perf_counter()
            create_store(path, args.runs)
            print(f"created {args.runs} runs in {time.perf_counter() - start:.1f} s")
        report(f"sqlite:///{path}", str(Path(tmp) / "report.html"))


def report(uri: str, html: str) -> None:
    from runner._compare_store import RunQuery, fetch_runs
    from runner.compare import build_comparison, render
    from runner.selection import load_policy, select

    keys = {f"{s}/{m}" for s in ("val", "test") for m in BINARY}
    query = RunQuery()
    runs = fetch_runs(uri, query, keys)
    n = len(runs.records)
    policy = load_policy("recall_goal")

    def sql() -> Any:
        return fetch_runs(uri, query, keys)

    def client() -> Any:
        return fetch_runs(uri, query, keys, route="client")

    def table() -> Any:
        return render(build_comparison(runs), "table")

    def choose() -> Any:
        return select(runs.records, policy, logged_keys=runs.logged_keys)

    rows = [
        ("read, only needed columns (sql)", best_of(sql)),
        ("read, MlflowClient.search_runs", best_of(client, repeat=1)),
        ("rank + render table", best_of(table)),
        ("select (recall_goal)", best_of(choose)),
        ("CLI: table", cli(uri)),
        ("CLI: --policy recall_goal --dry-run",
         cli(uri, "--policy", "recall_goal", "--dry-run")),
        ("CLI: --sweep-id sweep-1 --format csv",
         cli(uri, "--sweep-id", "sweep-1", "--format", "csv")),
        ("CLI: --format html (12 runs plotted)",
         cli(uri, "--format", "html", "--output", html)),
    ]  # fmt: skip
    print(f"{n} runs, {uri}")
    for label, seconds in rows:
        print(f"  {label:<40} {seconds:7.3f} s")


if __name__ == "__main__":
    main()
