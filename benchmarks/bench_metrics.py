"""Benchmark of runner.metrics against scikit-learn and against the floors.

For each size and task (binary, and multiclass with ``--classes`` classes)
it times:

- ``ours``: :func:`runner.metrics.evaluate` on the full default suite;
- ``sklearn``: the same values from scikit-learn's functions called one by
  one, the way a script would (every value is asserted equal to ours, to
  1e-12 relative or absolute);
- ``count``: ours restricted to the label-only metrics, against its floor,
  one ``np.bincount(y_true * k + y_pred)`` over the label arrays;
- ``rank``: ours restricted to the ranking metrics (ROC AUC and average
  precision), against its floor, one ``np.argsort`` of the scores (per
  column, ``axis=0``, for multiclass).

Each timing is the best of ``--repeat`` runs (one run at 1e7 rows). Goals at
1e7: ``sklearn / ours >= 5``, ``count / floor <= 3``, ``rank / floor <= 2``.

Usage::

    python benchmarks/bench_metrics.py                 # sizes 1e5, 1e6, 1e7
    python benchmarks/bench_metrics.py --sizes 1e5,1e6
    python benchmarks/bench_metrics.py --ties 3        # binary scores, 0.001 grid
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.metrics import REGISTRY, default_suite, evaluate  # noqa: E402

TOLERANCE = 1e-12
GOALS = {"speedup": 5.0, "count": 3.0, "rank": 2.0}


@dataclass
class Case:
    """One benchmark input: labels, scores and the evaluate arguments."""

    task: str
    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray
    classes: list[int]

    @property
    def positive(self) -> int | None:
        return 1 if self.task == "binary" else None

    def run(self, suite: list[str] | None, scores: bool = True) -> dict[str, float]:
        ev = evaluate(
            self.task,
            self.y_true,
            self.y_pred,
            classes=self.classes,
            positive_label=self.positive,
            scores=self.scores if scores else None,
            suite=suite,
        )
        return ev.values


def binary_case(n: int, rng: np.random.Generator, ties: int | None) -> Case:
    y = (rng.random(n) < 0.3).astype(np.int64)
    logit = 1.2 * (2 * y - 1) + rng.normal(size=n)
    proba = 1 / (1 + np.exp(-logit))
    if ties is not None:
        proba = np.round(proba, ties)
    y_pred = (proba >= 0.5).astype(np.int64)
    return Case("binary", y, y_pred, proba, [0, 1])


def multiclass_case(n: int, k: int, rng: np.random.Generator) -> Case:
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.5
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return Case("multiclass", y, logits.argmax(axis=1), logits, list(range(k)))


def sklearn_binary(case: Case) -> dict[str, float]:
    """The binary suite from scikit-learn, one function call per value."""
    from sklearn import metrics as m

    y, p = case.y_true, case.scores
    out = sklearn_binary_counts(case)
    out["roc_auc"] = m.roc_auc_score(y, p)
    out["pr_auc"] = m.average_precision_score(y, p)
    out["log_loss"] = m.log_loss(y, p, labels=case.classes)
    out["brier"] = m.brier_score_loss(y, p, pos_label=1)
    return out


def sklearn_binary_counts(case: Case) -> dict[str, float]:
    from sklearn import metrics as m

    y, yp, nan = case.y_true, case.y_pred, np.nan
    tn, fp, fn, tp = m.confusion_matrix(y, yp, labels=[0, 1]).ravel().tolist()
    return {
        "accuracy": m.accuracy_score(y, yp),
        "precision": m.precision_score(y, yp, pos_label=1, zero_division=nan),
        "recall": m.recall_score(y, yp, pos_label=1, zero_division=nan),
        "f1": m.f1_score(y, yp, pos_label=1, zero_division=nan),
        "specificity": m.recall_score(y, yp, pos_label=0, zero_division=nan),
        "balanced_accuracy": m.balanced_accuracy_score(y, yp),
        "mcc": m.matthews_corrcoef(y, yp),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def sklearn_multiclass(case: Case) -> dict[str, float]:
    """The multiclass suite from scikit-learn, one function call per value."""
    from sklearn import metrics as m

    y, yp, proba, labels = case.y_true, case.y_pred, case.scores, case.classes
    out: dict[str, float] = {
        "accuracy": m.accuracy_score(y, yp),
        "balanced_accuracy": m.balanced_accuracy_score(y, yp),
        "mcc": m.matthews_corrcoef(y, yp),
    }
    funcs = {"precision": m.precision_score, "recall": m.recall_score}
    funcs["f1"] = m.f1_score
    for average in ("macro", "weighted", "micro"):
        for stat, func in funcs.items():
            out[f"{stat}_{average}"] = func(
                y, yp, labels=labels, average=average, zero_division=np.nan
            )
    per_class = m.precision_recall_fscore_support(
        y, yp, labels=labels, average=None, zero_division=np.nan
    )
    for stat, values in zip(
        ("precision", "recall", "f1", "support"), per_class, strict=True
    ):
        out.update(
            {f"{stat}.{c}": float(v) for c, v in zip(labels, values, strict=True)}
        )
    out["roc_auc_ovr"] = m.roc_auc_score(y, proba, multi_class="ovr", labels=labels)
    out["pr_auc_macro"] = m.average_precision_score(y, proba, average="macro")
    out["log_loss"] = m.log_loss(y, proba, labels=labels)
    out["brier"] = m.brier_score_loss(y, proba, labels=labels)
    return out


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def check_equal(ours: dict[str, float], theirs: dict[str, float]) -> float:
    """Assert equal keys and values; return the largest relative difference."""
    assert set(ours) == set(theirs), sorted(set(ours) ^ set(theirs))
    worst = 0.0
    for key, value in ours.items():
        other = float(theirs[key])
        diff = abs(value - other)
        assert diff <= TOLERANCE * max(1.0, abs(other)), (key, value, other)
        worst = max(worst, diff / max(abs(other), 1e-300))
    return worst


def label_suite(task: str) -> list[str]:
    return [n for n in default_suite(task) if REGISTRY[n].needs == "labels"]


def rank_suite(task: str) -> list[str]:
    return [n for n in default_suite(task) if REGISTRY[n].needs == "scores"]


def measure(case: Case, repeat: int) -> dict[str, float]:
    """All timings and ratios for one case."""
    k = len(case.classes)
    sk_full = sklearn_binary if case.task == "binary" else sklearn_multiclass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_sk, theirs = best_of(repeat, lambda: sk_full(case))
    t_ours, ours = best_of(repeat, lambda: case.run(None))
    worst = check_equal(ours, theirs)
    t_count, _ = best_of(repeat, lambda: case.run(label_suite(case.task), False))
    t_count_floor, _ = best_of(
        repeat, lambda: np.bincount(case.y_true * k + case.y_pred, minlength=k * k)
    )
    t_rank, _ = best_of(repeat, lambda: case.run(rank_suite(case.task)))
    t_rank_floor, _ = best_of(repeat, lambda: np.argsort(case.scores, axis=0))
    return {
        "ours": t_ours,
        "sklearn": t_sk,
        "speedup": t_sk / t_ours,
        "count": t_count,
        "count_floor": t_count_floor,
        "count_ratio": t_count / t_count_floor,
        "rank": t_rank,
        "rank_floor": t_rank_floor,
        "rank_ratio": t_rank / t_rank_floor,
        "max_rel_diff": worst,
    }


def parse_sizes(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def print_row(n: int, task: str, r: dict[str, float]) -> None:
    print(
        f"| {n:>10.0e} | {task:<10} | {r['ours']:8.3f} | {r['sklearn']:8.2f} "
        f"| {r['speedup']:7.1f}x | {r['count']:7.4f} | {r['count_floor']:7.4f} "
        f"| {r['count_ratio']:5.2f} | {r['rank']:7.3f} | {r['rank_floor']:7.3f} "
        f"| {r['rank_ratio']:5.2f} | {r['max_rel_diff']:8.1e} |",
        flush=True,
    )


HEADER = (
    "| n          | task       | ours (s) | sklearn  | speedup  | count   | floor   "
    "| ratio | rank    | floor   | ratio | max rel  |\n"
    "|------------|------------|----------|----------|----------|---------|---------"
    "|-------|---------|---------|-------|----------|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7", help="comma-separated")
    parser.add_argument("--classes", type=int, default=10, help="multiclass k")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (<1e7)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ties", type=int, default=None, help="round binary scores to N decimals"
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(HEADER, flush=True)
    failures = []
    for n in parse_sizes(args.sizes):
        repeat = 1 if n >= 10**7 else args.repeat
        cases = (
            binary_case(n, rng, args.ties),
            multiclass_case(n, args.classes, rng),
        )
        for case in cases:
            result = measure(case, repeat)
            print_row(n, case.task, result)
            if n >= 10**7:
                failures += goal_failures(case.task, result)
            del case
    for failure in failures:
        print(f"goal missed: {failure}")
    return 1 if failures else 0


def goal_failures(task: str, r: dict[str, float]) -> list[str]:
    out = []
    if r["speedup"] < GOALS["speedup"]:
        out.append(f"{task}: speedup {r['speedup']:.1f}x < {GOALS['speedup']}x")
    if r["count_ratio"] > GOALS["count"]:
        out.append(f"{task}: count/floor {r['count_ratio']:.2f} > {GOALS['count']}")
    if r["rank_ratio"] > GOALS["rank"]:
        out.append(f"{task}: rank/floor {r['rank_ratio']:.2f} > {GOALS['rank']}")
    return out


if __name__ == "__main__":
    sys.exit(main())
