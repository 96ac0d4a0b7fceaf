"""Time ``python -m runner model=rf tracking.log_model=false`` against a script.

The baseline, ``by_hand.py``, does the same work by hand with scikit-learn and
MLflow (same data, split, model, metrics and artifacts).  Both run as fresh
processes against warm sqlite stores (created by a first, untimed run of
each), alternating, and the medians are compared::

    python benchmarks/bench_runner.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    # From the scratch folder: MLflow puts a sqlite store's default artifact
    # folder (./mlruns) in the current folder.
    subprocess.run(
        cmd, env=env, check=True, capture_output=True, cwd=env["RUNNER_HOME"]
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, RUNNER_HOME=tmp, MLFLOW_DISABLE_TELEMETRY="true")
        runner = [
            sys.executable,
            "-m",
            "runner",
            "model=rf",
            "tracking.log_model=false",
        ]
        by_hand = [
            sys.executable,
            str(HERE / "by_hand.py"),
            f"sqlite:///{tmp}/by_hand.db",
        ]
        timed(runner, env)
        timed(by_hand, env)
        times: dict[str, list[float]] = {"runner": [], "by hand": []}
        for _ in range(args.repeats):
            times["runner"].append(timed(runner, env))
            times["by hand"].append(timed(by_hand, env))

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'':10} {'median s':>9} {'min s':>7} {'max s':>7}  (n={args.repeats})")
    for name, values in times.items():
        print(f"{name:10} {med[name]:9.2f} {min(values):7.2f} {max(values):7.2f}")
    print(f"ratio runner / by hand: {med['runner'] / med['by hand']:.2f}")


if __name__ == "__main__":
    main()
