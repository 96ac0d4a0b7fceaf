"""``python -m runner.compare``: reading runs, ranking, formats, bad input.

Fast tests write runs with ``MlflowClient`` into a real sqlite store under a
temporary folder; the slow ones train real runs with ``python -m runner`` and
check every number of the table against the metrics logged in MLflow.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from runner import compare
from runner._compare_store import RunQuery, RunRecord, fetch_runs
from tests.conftest import DATA, REPO

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

BASE_TAGS = {
    "runner.task": "binary",
    "runner.primary_metric": "f1",
    "runner.data_digest": "digest-1",
    "runner.metrics_fingerprint": "fp-1",
    "runner.metrics_version": "1",
    "runner.choice.model": "rf",
    "runner.choice.dataset": "bank",
    "runner.choice.split": "holdout",
}
HEADLINE_KEYS = {
    f"{s}/{m}" for s in ("val", "test") for m in compare.HEADLINE["binary"]
}


class Experiment:
    """One experiment of the module's shared sqlite store (schema creation is
    slow, so tests share the file and each gets an experiment of its own)."""

    def __init__(self, uri: str, name: str) -> None:
        from mlflow import MlflowClient

        self.uri, self.name = uri, name
        self.client = MlflowClient(tracking_uri=uri)
        # Beside the store, not MLflow's default ./mlruns of the current folder.
        folder = Path(uri.removeprefix("sqlite:///")).parent / "artifacts" / name
        self.id = self.client.create_experiment(name, artifact_location=folder.as_uri())

    def run(
        self,
        name: str,
        metrics: Mapping[str, float],
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        status: str = "FINISHED",
    ) -> str:
        from mlflow.entities import Metric, Param

        run = self.client.create_run(
            self.id, run_name=name, tags={**BASE_TAGS, **(tags or {})}
        )
        self.client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in (params or {}).items()],
        )
        self.client.set_terminated(run.info.run_id, status=status)
        return str(run.info.run_id)

    def cli(self, *args: str) -> tuple[int, str, str]:
        """``compare.main`` in process; returns (status, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        real = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            status = compare.main(
                ["--tracking-uri", self.uri, "--experiment", self.name, *args]
            )
        finally:
            sys.stdout, sys.stderr = real
        return status, out.getvalue(), err.getvalue()


@pytest.fixture
def exp(shared_uri: str, request: pytest.FixtureRequest) -> Experiment:
    return Experiment(shared_uri, re.sub(r"\W", "_", request.node.name))


def table_rows(stdout: str) -> list[dict[str, str]]:
    """Rows of the terminal table, split on runs of two or more spaces."""
    lines = stdout.splitlines()
    head = re.split(r"\s{2,}", lines[1].strip())
    rows = []
    for line in lines[2:]:
        if not line.strip():
            break
        rows.append(dict(zip(head, re.split(r"\s{2,}", line.strip()), strict=True)))
    return rows


def same_value(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def same_records(a: list[RunRecord], b: list[RunRecord]) -> bool:
    def key(r: RunRecord) -> tuple[Any, ...]:
        return (r.run_id, r.name, r.status, r.experiment_id, dict(r.tags))

    if [key(r) for r in a] != [key(r) for r in b]:
        return False
    return all(
        ra.metrics.keys() == rb.metrics.keys()
        and all(same_value(ra.metrics[k], rb.metrics[k]) for k in ra.metrics)
        for ra, rb in zip(a, b, strict=True)
    )


# --------------------------------------------------------------------------
# Reading runs


def test_sql_and_client_routes_read_the_same_runs(exp: Experiment) -> None:
    exp.run(
        "a",
        {"val/f1": 0.7, "val/precision": math.nan, "test/f1": 0.6},
        {
            "runner.sweep_id": "s1",
            "diagnostic.overfitting": "warn",
            "diagnostic.overfitting.reason": "gap 0.3",
            "other": "x",
        },
        params={"model.C": "1.0"},
    )
    exp.run("b", {"val/f1": 0.9}, {"runner.sweep_id": "s1"}, params={"model.C": "0.1"})
    exp.run("parent", {}, {"runner.sweep_id": "s1", "runner.role": "sweep"})
    exp.run("failed", {"val/f1": 0.1}, status="FAILED")
    deleted = exp.run("deleted", {"val/f1": 0.5})
    exp.client.delete_run(deleted)
    queries = [
        RunQuery(experiments=(exp.name,)),
        RunQuery(experiments=(exp.name,), sweep_id="s1"),
        RunQuery(experiments=(exp.name,), statuses=()),
        RunQuery(experiments=(exp.name,), statuses=("FINISHED", "FAILED")),
        RunQuery(experiments=(exp.name,), include_parents=True, sweep_id="s1"),
        RunQuery(experiments=(exp.name,), tags={"diagnostic.overfitting": "warn"}),
        RunQuery(
            experiments=(exp.name,),
            filter_string="metrics.`val/f1` > 0.8 and params.`model.C` = '0.1'",
        ),
        RunQuery(experiments=(exp.name,), filter_string="tags.other = 'x'"),
    ]
    keys = {"val/f1", "val/precision", "test/f1", "val/recall"}
    for query in queries:
        sql = fetch_runs(exp.uri, query, keys, route="sql")
        client = fetch_runs(exp.uri, query, keys, route="client")
        assert same_records(sql.records, client.records), query
        assert sql.logged_keys == client.logged_keys
        assert sql.route == "sql" and client.route == "client"

    names = [[r.name for r in fetch_runs(exp.uri, q, keys).records] for q in queries]
    assert names[0] == ["a", "b"]
    assert names[1] == ["a", "b"]  # the sweep's parent is left out
    assert names[2] == names[3] == ["a", "b", "failed"]
    assert names[4] == ["a", "b", "parent"]
    assert names[5] == ["a"] and names[6] == ["b"] and names[7] == ["a"]
    record = fetch_runs(exp.uri, queries[0], keys).records[0]
    assert math.isnan(record.metrics["val/precision"])
    assert "other" not in record.tags and record.tags["runner.sweep_id"] == "s1"


def test_filter_string_selects_what_mlflow_selects(exp: Experiment) -> None:
    for i in range(6):
        exp.run(
            f"r{i}",
            {"val/f1": i / 10, "val/recall": 1 - i / 10},
            {"runner.choice.model": "rf" if i % 2 else "logreg"},
        )
    text = (
        "metrics.`val/f1` >= 0.2 and tags.`runner.choice.model` = 'rf' "
        "and attributes.run_name LIKE 'r%'"
    )
    expected = {r.info.run_id for r in exp.client.search_runs([exp.id], text)}
    got = fetch_runs(
        exp.uri, RunQuery(experiments=(exp.name,), filter_string=text), {"val/f1"}
    )
    assert {r.run_id for r in got.records} == expected and len(expected) == 2


# --------------------------------------------------------------------------
# Ranking and the table


def test_table_ranks_by_the_primary_metric_in_its_direction(exp: Experiment) -> None:
    values = {"a": 0.71, "b": 0.93, "c": math.nan, "d": 0.88}
    for name, f1 in values.items():
        exp.run(
            name,
            {
                "val/f1": f1,
                "val/log_loss": 1 - (0 if math.isnan(f1) else f1),
                "test/f1": 0.5,
            },
        )

    status, out, _ = exp.cli()
    assert status == 0
    rows = table_rows(out)
    # By hand: the defined values, highest first, then the undefined one.
    defined = sorted((v, n) for n, v in values.items() if not math.isnan(v))
    assert [r["run"] for r in rows] == [n for _, n in reversed(defined)] + ["c"]
    assert [r["rank"] for r in rows] == ["1", "2", "3", "-"]
    assert [r["val/f1"] for r in rows] == ["0.9300", "0.8800", "0.7100", "nan"]
    assert "sorted    by val/f1 (maximize: higher is better)" in out

    status, out, _ = exp.cli("--sort", "val/log_loss", "--metrics", "f1,log_loss")
    rows = table_rows(out)
    losses = {n: 1 - v for n, v in values.items() if not math.isnan(v)}
    assert [r["run"] for r in rows][:3] == sorted(losses, key=losses.__getitem__)
    assert "by val/log_loss (minimize: lower is better)" in out


def test_varying_choices_and_flags_are_columns(exp: Experiment) -> None:
    exp.run(
        "a",
        {"val/f1": 0.7},
        {
            "runner.choice.split": "time",
            "diagnostic.overfitting": "warn",
            "diagnostic.leakage_feature": "ok",
        },
    )
    exp.run(
        "b",
        {"val/f1": 0.8},
        {"diagnostic.overfitting": "ok", "diagnostic.leakage_feature": "ok"},
    )
    _, out, _ = exp.cli()
    rows = {r["run"]: r for r in table_rows(out)}
    assert rows["a"]["split"] == "time" and rows["b"]["split"] == "holdout"
    assert rows["a"]["flags"] == "warn: overfitting" and rows["b"]["flags"] == "ok"
    assert rows["a"]["model"] == "rf"
    assert "same      for every run:" not in out  # every group varies or is shown


def test_cohorts_are_ranked_separately_and_the_table_says_so(exp: Experiment) -> None:
    exp.run("a1", {"val/f1": 0.5})
    exp.run("a2", {"val/f1": 0.6})
    exp.run("b1", {"val/f1": 0.9}, {"runner.data_digest": "digest-2"})

    _, out, _ = exp.cli()
    rows = table_rows(out)
    assert [(r["cohort"], r["rank"], r["run"]) for r in rows] == [
        ("A", "1", "a2"),
        ("A", "2", "a1"),
        ("B", "1", "b1"),
    ]
    assert (
        "note      2 cohorts, evaluated under different metric definitions or "
        "on different data, are ranked separately: A: data digest digest-1" in out
    )
    assert "sorted    by val/f1 (maximize: higher is better), within each cohort" in out

    _, out, _ = exp.cli("--rank-across")
    rows = table_rows(out)
    assert [(r["rank"], r["run"]) for r in rows] == [
        ("1", "b1"),
        ("2", "a2"),
        ("3", "a1"),
    ]
    assert "ranked across 2 cohorts (--rank-across)" in out


def test_csv_has_every_column_at_full_precision(exp: Experiment) -> None:
    logged = {"val/f1": 1 / 3, "test/f1": 2 / 7, "val/precision": math.nan}
    run_id = exp.run("a", logged, {"diagnostic.overfitting": "ok"})
    status, out, _ = exp.cli("--format", "csv")
    assert status == 0
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["run_id"] == run_id and row["cohort"] == "A"
    assert float(row["val/f1"]) == 1 / 3 and float(row["test/f1"]) == 2 / 7
    assert row["val/precision"] == "nan" and row["val/recall"] == ""
    assert row["choice.model"] == "rf" and row["choice.split"] == "holdout"
    assert row["diagnostic.overfitting"] == "ok"


def test_markdown_is_a_pipe_table(exp: Experiment) -> None:
    exp.run("a|b", {"val/f1": 0.5})
    _, out, _ = exp.cli("--format", "markdown", "--metrics", "val/f1")
    lines = out.splitlines()
    assert lines[2] == "| rank | run | model | dataset | val/f1 |"
    assert lines[3] == "| ---: | --- | --- | --- | ---: |"
    assert lines[4] == "| 1 | a\\|b | rf | bank | 0.5000 |"
    assert "- **sorted**: by val/f1 (maximize: higher is better)" in out


def test_html_report_without_artifacts(exp: Experiment, tmp_path: Path) -> None:
    exp.run("a", {"val/f1": 0.5, "val/precision": 0.4, "val/recall": 0.7})
    path = tmp_path / "r.html"
    status, out, _ = exp.cli("--format", "html", "--output", str(path))
    assert status == 0 and f"report    {path}" in out
    text = path.read_text()
    assert text.count('<tr class="" data-run-id=') == 1
    assert text.count("data:image/png;base64,") == 2  # bars and trade-off
    assert "No confusion_matrix.csv among the plotted runs" in text


# --------------------------------------------------------------------------
# Selection from the command line


def test_select_tags_the_chosen_run_and_lists_rejections(exp: Experiment) -> None:
    good = exp.run("good", {"val/recall": 0.7, "val/precision": 0.4})
    exp.run("loud", {"val/recall": 0.9, "val/precision": 0.1})

    status, out, err = exp.cli(
        "--objective",
        "recall",
        "--constraint",
        "precision>=0.2",
        "--name",
        "goal",
        "--dry-run",
    )
    assert status == 0 and err == ""
    assert "runner.selection.goal" not in exp.client.get_run(good).data.tags
    assert "rejected  loud: val/precision>=0.2 failed: val/precision = 0.1000" in out
    assert [(r["run"], r["selection"]) for r in table_rows(out)] == [
        ("good", "chosen"),
        ("loud", "rejected"),
    ]

    status, out, _ = exp.cli(
        "--objective", "recall", "--constraint", "precision>=0.2", "--name", "goal"
    )
    tags = exp.client.get_run(good).data.tags
    assert tags["runner.selection.goal"] == "chosen"
    assert tags["runner.selection.goal.reason"].startswith(
        "policy goal: highest val/recall = 0.7000 among 1 of 2 runs"
    )
    assert f"tagged    runner.selection.goal=chosen on run {good}" in out


def test_select_on_test_metrics_warns_on_stderr(exp: Experiment) -> None:
    exp.run("a", {"val/recall": 0.7, "test/precision": 0.4})
    status, _, err = exp.cli(
        "--objective", "recall", "--constraint", "test/precision>=0.2", "--dry-run"
    )
    assert status == 0
    assert err.startswith(
        "runner.compare: warning: selection reads test metrics (test/precision)"
    )


def test_select_with_no_passing_run_exits_1(exp: Experiment) -> None:
    exp.run("a", {"val/recall": 0.1})
    status, out, _ = exp.cli("--objective", "recall", "--constraint", "recall>0.5")
    assert status == 1
    assert "chosen    none: policy cli: no run of 1 passes every constraint" in out


def test_select_refuses_mixed_cohorts_without_the_flag(exp: Experiment) -> None:
    exp.run("a", {"val/recall": 0.1})
    exp.run("b", {"val/recall": 0.2}, {"runner.metrics_fingerprint": "fp-2"})
    status, _, err = exp.cli("--objective", "recall", "--dry-run")
    assert status == 2 and "from 2 cohorts" in err and "--rank-across" in err
    status, out, _ = exp.cli("--objective", "recall", "--dry-run", "--rank-across")
    assert status == 0 and "chosen    b" in out


# --------------------------------------------------------------------------
# Bad input: what was wrong, the value given, how to fix it


BAD = [
    pytest.param(
        ["--experiment", "{exp}_"],
        "no experiment named '{exp}_' in the store. Did you mean '{exp}'",
        id="misspelled_experiment",
    ),
    pytest.param(
        ["--sort", "val/f11"],
        "--sort 'val/f11' names the metric 'f11', "
        "which is not in the registry. Did you mean 'f1'",
        id="bad_sort_name",
    ),
    pytest.param(
        ["--sort", "val/roc_auc_ovr"],
        "--sort 'val/roc_auc_ovr' was logged "
        "by none of the runs. Did you mean 'val/roc_auc'?",
        id="sort_key_not_logged",
    ),
    pytest.param(
        ["--metrics", "recal"],
        "--metrics 'val/recal' names the metric "
        "'recal', which is not in the registry. Did you mean 'recall'",
        id="bad_metric_column",
    ),
    pytest.param(
        ["--tag", "runner.choice.model"],
        "--tag 'runner.choice.model' is "
        "not KEY=VALUE. Write e.g. --tag runner.choice.model=rf.",
        id="tag_without_value",
    ),
    pytest.param(
        ["--status", "FINISHD"],
        "unknown run status 'FINISHD'. Did you mean 'FINISHED'? Use one of",
        id="misspelled_status",
    ),
    pytest.param(
        ["--filter", "metrics.f1 >> 2"],
        "the MLflow filter string 'metrics.f1 >> 2' does not parse",
        id="bad_filter",
    ),
    pytest.param(["--sweep-id", "nope"], "no runs match:", id="nothing_matches"),
    pytest.param(
        ["--policy", "recall-goal"],
        "no selection policy named 'recall-goal'. Did you mean 'recall_goal'",
        id="policy_name",
    ),
    pytest.param(
        ["--limit", "0"], "--limit must be at least 1; got 0.", id="limit_zero"
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_is_exit_2_with_the_fix(
    exp: Experiment, args: list[str], message: str
) -> None:
    exp.run("a", {"val/f1": 0.5, "val/roc_auc": 0.5, "val/recall": 0.5})
    status, out, err = exp.cli(*(a.replace("{exp}", exp.name) for a in args))
    assert status == 2 and out == ""
    assert err.startswith("runner.compare: error: ")
    assert message.replace("{exp}", exp.name) in err


def test_missing_store_is_reported_not_created(tmp_path: Path) -> None:
    db = tmp_path / "none" / "mlflow.db"
    status = compare.main(["--tracking-uri", f"sqlite:///{db}"])
    assert status == 2 and not db.exists()


# --------------------------------------------------------------------------
# Real runs from the real command line


def runner_env(home: Path) -> dict[str, str]:
    env = dict(os.environ, RUNNER_HOME=str(home), MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_RUN_ID", None)
    return env


def sh(home: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=home,
        env=runner_env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == expect, proc.stderr[-3000:]
    return proc


def baseline_and_logreg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runner home with a sweep of the majority baseline and a logistic
    regression on breast cancer, trained once per session (this module and
    test_report_browser.py share it)."""
    home = tmp_path_factory.getbasetemp() / "runs-dummy-logreg"
    if not (home / "done").exists():
        home.mkdir(exist_ok=True)
        sh(home, "runner", "-m", "model=dummy,logreg", "tracking.log_model=false")
        (home / "done").touch()
    return home


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return baseline_and_logreg(tmp_path_factory)


def logged_runs(home: Path) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'outputs' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("runner")
    runs = client.search_runs([exp.experiment_id])
    return {
        r.info.run_name: r for r in runs if r.data.tags.get("runner.role") != "sweep"
    }


@pytest.mark.slow
def test_real_runs_table_shows_the_logged_values(real_runs: Path) -> None:
    proc = sh(real_runs, "runner.compare")
    runs = logged_runs(real_runs)
    rows = table_rows(proc.stdout)

    # By hand: val/f1 (the primary) highest first, undefined last.
    def order(name: str) -> float:
        value = runs[name].data.metrics["val/f1"]
        return math.inf if math.isnan(value) else -value

    assert [r["run"] for r in rows] == sorted(runs, key=order)
    for row in rows:
        metrics = runs[row["run"]].data.metrics
        for key in HEADLINE_KEYS:
            value = metrics[key]
            assert row[key] == ("nan" if math.isnan(value) else f"{value:.4f}"), key
    flags = {r["run"]: r["flags"] for r in rows}
    assert flags["dummy-breast_cancer"] == "warn: accuracy_paradox"
    assert flags["logreg-breast_cancer"] == "ok"
    sweep = {r.data.tags["runner.sweep_id"] for r in runs.values()}.pop()
    by_sweep = sh(real_runs, "runner.compare", "--sweep-id", sweep, "--format", "csv")
    assert {r["run"] for r in csv.DictReader(io.StringIO(by_sweep.stdout))} == set(runs)


@pytest.mark.slow
def test_real_runs_selection_rejects_the_baseline(real_runs: Path) -> None:
    proc = sh(real_runs, "runner.compare", "--policy", "recall_goal")
    runs = logged_runs(real_runs)
    dummy = runs["dummy-breast_cancer"].data.metrics
    assert (
        "rejected  dummy-breast_cancer: val/recall>=0.5 failed: val/recall = "
        f"{dummy['val/recall']:.4f}; val/precision>=0.2 failed: val/precision is "
        "undefined (nan)" in proc.stdout
    )
    tags = logged_runs(real_runs)["logreg-breast_cancer"].data.tags
    assert tags["runner.selection.recall_goal"] == "chosen"
    assert "chosen on validation metrics" in tags["runner.selection.recall_goal.reason"]


@pytest.mark.slow
def test_example_experiment_rejects_high_accuracy_low_recall(
    tmp_path: Path,
) -> None:
    data = [f"dataset.path={DATA / 'bank_marketing.csv'}", "tracking.log_model=false"]
    sh(
        tmp_path,
        "runner",
        "-m",
        "experiment=imbalanced_recall",
        "model=dummy,rf",
        *data,
    )
    sh(
        tmp_path,
        "runner",
        "experiment=imbalanced_recall",
        "model=logreg",
        "+model.class_weight=balanced",
        *data,
    )
    proc = sh(
        tmp_path,
        "runner.compare",
        "--tag",
        "runner.choice.experiment=imbalanced_recall",
        "--policy",
        "recall_goal",
    )

    runs = logged_runs(tmp_path)
    chosen = [
        n
        for n, r in runs.items()
        if r.data.tags.get("runner.selection.recall_goal") == "chosen"
    ]
    assert len(chosen) == 1 and chosen[0].startswith("logreg-bank_marketing")
    best = runs[chosen[0]].data.metrics
    for name in (
        "dummy-bank_marketing-experiment=imbalanced_recall",
        "rf-bank_marketing-experiment=imbalanced_recall",
    ):
        m = runs[name].data.metrics
        # High accuracy, low recall: more accurate than the chosen run, rejected.
        assert m["val/accuracy"] > best["val/accuracy"] and m["val/recall"] < 0.5
        assert (
            f"rejected  {name}: val/recall>=0.5 failed: val/recall = "
            f"{m['val/recall']:.4f}" in proc.stdout
        )
    assert REPO.joinpath("conf/experiment/imbalanced_recall.yaml").is_file()


def test_each_cohort_is_ranked_by_its_own_primary(exp: Experiment) -> None:
    regression = {
        "runner.task": "regression",
        "runner.primary_metric": "rmse",
        "runner.data_digest": "digest-r",
    }
    exp.run("f1-low", {"val/f1": 0.2, "val/rmse": 1.0})
    exp.run("f1-high", {"val/f1": 0.8})
    exp.run("rmse-high", {"val/rmse": 9.0}, regression)
    exp.run("rmse-low", {"val/rmse": 3.0}, regression)

    _, out, _ = exp.cli("--metrics", "val/f1,val/rmse")
    rows = table_rows(out)
    assert [(r["cohort"], r["rank"], r["run"]) for r in rows] == [
        ("A", "1", "f1-high"), ("A", "2", "f1-low"),
        ("B", "1", "rmse-low"), ("B", "2", "rmse-high"),
    ]  # fmt: skip
    assert (
        "within each cohort by its primary metric: A by val/f1 (maximize: "
        "higher is better); B by val/rmse (minimize: lower is better)" in out
    )


def test_a_table_imports_neither_mlflow_nor_the_training_code(exp: Experiment) -> None:
    # What keeps `python -m runner.compare` under a second for 1,000 runs.
    exp.run("a", {"val/f1": 0.5})
    code = (
        "import sys; from runner import compare; "
        f"compare.main(['--tracking-uri', {exp.uri!r}, '--experiment', "
        f"{exp.name!r}]); "
        "print([m for m in ('mlflow', 'sklearn', 'pandas', 'matplotlib') "
        "if m in sys.modules])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_docstring_examples_run() -> None:
    import doctest

    from runner import selection

    assert doctest.testmod(selection, optionflags=doctest.ELLIPSIS).failed == 0
