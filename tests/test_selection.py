"""Selection policies: parsing, bad input, ranking, rejection reasons, tags.

Runs are written to a real sqlite MLflow store under ``tmp_path`` and read back
with the same reader the command line uses; expected values are computed in
the test (with scikit-learn where a metric is involved).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from runner._compare_store import RunQuery, RunSet, fetch_runs
from runner.errors import ConfigError
from runner.selection import (
    Policy,
    SelectionWarning,
    load_policy,
    metric_key,
    parse_constraint,
    policy_dir,
    policy_from_mapping,
    select,
    tag_choice,
)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

BASE_TAGS = {
    "runner.task": "binary",
    "runner.primary_metric": "f1",
    "runner.data_digest": "digest-1",
    "runner.metrics_fingerprint": "fp-1",
    "runner.metrics_version": "1",
    "runner.choice.model": "rf",
}
KEYS = {
    f"{s}/{m}"
    for s in ("train", "val", "test")
    for m in ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc")
}


class Store:
    """A real sqlite MLflow store; each test writes to an experiment of its own.

    Creating an MLflow sqlite schema takes seconds, so the module shares one
    file and isolates the tests by experiment.
    """

    def __init__(self, uri: str, experiment: str) -> None:
        from mlflow import MlflowClient

        self.uri = uri
        self.name = experiment
        self.client = MlflowClient(tracking_uri=uri)
        # Beside the store, not MLflow's default ./mlruns of the current folder.
        folder = Path(uri.removeprefix("sqlite:///")).parent / "artifacts" / experiment
        self.experiment = self.client.create_experiment(
            experiment, artifact_location=folder.as_uri()
        )

    def run(
        self,
        name: str,
        metrics: Mapping[str, float],
        tags: Mapping[str, str] | None = None,
    ) -> str:
        from mlflow.entities import Metric

        run = self.client.create_run(
            self.experiment, run_name=name, tags={**BASE_TAGS, **(tags or {})}
        )
        batch = [Metric(k, float(v), 0, 0) for k, v in metrics.items()]
        self.client.log_batch(run.info.run_id, metrics=batch)
        self.client.set_terminated(run.info.run_id)
        return str(run.info.run_id)

    def read(self) -> RunSet:
        return fetch_runs(self.uri, RunQuery(experiments=(self.name,)), KEYS)


@pytest.fixture
def store(shared_uri: str, request: pytest.FixtureRequest) -> Store:
    return Store(shared_uri, request.node.name)


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The positive class's metrics, computed by scikit-learn."""
    return {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, zero_division=np.nan),
        "recall": skm.recall_score(y_true, y_pred),
        "f1": skm.f1_score(y_true, y_pred),
    }


def on(split: str, values: Mapping[str, float]) -> dict[str, float]:
    return {f"{split}/{k}": v for k, v in values.items()}


# --------------------------------------------------------------------------
# The policy language


@pytest.mark.parametrize(
    ("text", "key", "direction"),
    [
        pytest.param("recall", "val/recall", "maximize", id="bare_name_reads_val"),
        pytest.param("test/log_loss", "test/log_loss", "minimize", id="loss_minimised"),
        pytest.param("gap/f1", "gap/f1", "minimize", id="gap_of_a_score_minimised"),
        pytest.param("gap/rmse", "gap/rmse", "maximize", id="gap_of_an_error"),
        pytest.param("val/recall.yes", "val/recall.yes", "maximize", id="per_class"),
    ],
)
def test_metric_key_direction_comes_from_the_registry(
    text: str, key: str, direction: str
) -> None:
    from runner.metrics import REGISTRY

    parsed = metric_key(text)
    assert (parsed.key, parsed.direction) == (key, direction)
    name = key.split("/")[1].split(".")[0]
    if key.startswith(("val/", "test/")) and name in REGISTRY:
        assert parsed.direction == REGISTRY[name].direction


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "val/recal",
            "objective 'val/recal' names the metric 'recal', which is not in the "
            "registry. Did you mean 'recall'",
            id="misspelled_metric",
        ),
        pytest.param(
            "valid/recall",
            "objective 'valid/recall' names the split 'valid', which no run logs. "
            "Did you mean 'val'?",
            id="misspelled_split",
        ),
        pytest.param(
            "val/support.cat",
            "'support.cat' describes the data and has no better direction",
            id="metric_without_direction",
        ),
        pytest.param(
            "best:val/f1",
            "names the split 'best:val'",
            id="unknown_direction_prefix",
        ),
    ],
)
def test_bad_objective_says_what_and_how_to_fix(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Policy(objective=text)


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("precision>=0.5", "val/precision>=0.5"),
        ("  test/recall >  0.3 ", "test/recall>0.3"),
        ("val/log_loss<0.4", "val/log_loss<0.4"),
        ("diagnostic.leakage_feature != warn", "diagnostic.leakage_feature!=warn"),
    ],
)
def test_constraint_is_normalised(text: str, normalised: str) -> None:
    assert parse_constraint(text).text == normalised


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "precision",
            "constraint 'precision' is not <metric><operator><number>. Write it "
            "like 'val/precision>=0.5'",
            id="no_operator",
        ),
        pytest.param(
            "precision>=high",
            "constraint 'precision>=high': the bound 'high' is not a number. "
            "Write a number after the operator, e.g. 'val/precision>=0.5'.",
            id="bound_not_a_number",
        ),
        pytest.param(
            "val/precison>=0.5",
            "names the metric 'precison', which is not in the registry. Did you "
            "mean 'precision'",
            id="misspelled_metric",
        ),
        pytest.param(
            "diagnostic.leakage_feat!=warn",
            "names the diagnostic 'leakage_feat', which the runner does not log. "
            "Did you mean 'leakage_feature'",
            id="misspelled_diagnostic",
        ),
        pytest.param(
            "diagnostic.overfitting>=ok",
            "a diagnostic is compared with == or != to ok or warn; got '>=' 'ok'",
            id="diagnostic_with_an_order",
        ),
    ],
)
def test_bad_constraint_says_what_and_how_to_fix(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_constraint(text)


def test_every_policy_in_conf_selection_loads() -> None:
    files = sorted(policy_dir().glob("*.yaml"))
    assert {p.stem for p in files} >= {"recall_goal", "precision_goal", "primary"}
    for path in files:
        policy = load_policy(path.stem)
        assert policy.name == path.stem
        assert policy.description


def test_recall_goal_reads_validation_recall() -> None:
    policy = load_policy("recall_goal")
    assert policy.objective_key([]).key == "val/recall"
    assert [c.text for c in policy.parsed_constraints] == [
        "val/recall>=0.5",
        "val/precision>=0.2",
    ]


def test_unknown_policy_name_suggests_the_close_one() -> None:
    with pytest.raises(
        ConfigError,
        match=r"no selection policy named 'recal_goal'\. "
        r"Did you mean 'recall_goal'",
    ):
        load_policy("recal_goal")


def test_unknown_policy_key_suggests_the_close_one() -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "unknown key 'constraint' in selection policy policy. Did you mean "
            "'constraints'? Valid keys: name, description"
        ),
    ):
        policy_from_mapping({"objective": "recall", "constraint": ["recall>0.5"]})


def test_policy_file_with_a_wrong_value_type(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("objective: recall\nconstraints: {recall: 0.5}\n")
    with pytest.raises(
        ConfigError,
        match=r"constraints in .*mine\.yaml must be a list "
        r"of strings; got \{'recall': 0\.5\}",
    ):
        load_policy(str(path))


def test_policy_name_must_be_a_tag_suffix() -> None:
    with pytest.raises(ConfigError, match=r"policy name 'my goal' is not a valid tag"):
        Policy(name="my goal", objective="recall")


# --------------------------------------------------------------------------
# Choosing


def test_c35_high_accuracy_low_recall_is_rejected_for_recall(store: Store) -> None:
    # CASES.md C35: 1,000 transactions, 10 fraud; the model flags 3, 1 of them fraud.
    y_true = np.zeros(1000, dtype=int)
    y_true[:10] = 1
    y_fraud = np.zeros(1000, dtype=int)
    y_fraud[[0, 500, 501]] = 1
    fraud = binary_metrics(y_true, y_fraud)
    assert fraud["accuracy"] == pytest.approx(0.989)
    assert fraud["recall"] == pytest.approx(0.1)
    # A model that finds 7 of the 10 frauds with 20 false alarms.
    y_good = np.zeros(1000, dtype=int)
    y_good[:7] = 1
    y_good[100:120] = 1
    good = binary_metrics(y_true, y_good)
    paradox = {
        "diagnostic.accuracy_paradox": "warn",
        "diagnostic.accuracy_paradox.reason": "recall 0.1 on imbalanced classes",
    }
    fraud_id = store.run("fraud-c35", on("val", fraud), paradox)
    good_id = store.run("good", on("val", good))

    runs = store.read()
    selection = select(
        runs.records, load_policy("recall_goal"), logged_keys=runs.logged_keys
    )

    assert selection.chosen is not None and selection.chosen.run_id == good_id
    [(rejected, reasons)] = selection.rejected
    assert rejected.run_id == fraud_id
    assert reasons == ["val/recall>=0.5 failed: val/recall = 0.1000"]
    assert rejected.metric("val/accuracy") > selection.chosen.metric("val/accuracy")
    assert f"val/recall = {good['recall']:.4f}" in selection.reason


def test_accuracy_paradox_flag_as_a_constraint(store: Store) -> None:
    store.run(
        "flagged",
        on("val", {"recall": 0.9}),
        {
            "diagnostic.accuracy_paradox": "warn",
            "diagnostic.accuracy_paradox.reason": "accuracy 0.99 vs baseline 0.99",
        },
    )
    store.run(
        "clean", on("val", {"recall": 0.8}), {"diagnostic.accuracy_paradox": "ok"}
    )
    store.run("unchecked", on("val", {"recall": 0.7}))
    runs = store.read()
    policy = Policy(
        objective="recall", constraints=("diagnostic.accuracy_paradox==ok",)
    )

    selection = select(runs.records, policy)

    assert [r.name for r in selection.ranked] == ["clean"]
    reasons = {r.name: why for r, why in selection.rejected}
    assert reasons == {
        "flagged": [
            "diagnostic.accuracy_paradox==ok failed: diagnostic."
            "accuracy_paradox is warn (accuracy 0.99 vs baseline 0.99)"
        ],
        "unchecked": [
            "diagnostic.accuracy_paradox==ok failed: the run has no "
            "diagnostic.accuracy_paradox tag"
        ],
    }


def test_ranking_equals_the_one_recomputed_from_logged_metrics(store: Store) -> None:
    rng = np.random.default_rng(3)
    for i in range(12):
        store.run(
            f"run-{i:02d}",
            {
                "val/recall": round(float(rng.random()), 1),  # rounding makes ties
                "val/precision": float(rng.random()),
                "val/f1": float(rng.random()),
            },
        )
    runs = store.read()
    policy = Policy(
        objective="recall", constraints=("precision>=0.3",), tie_breakers=("f1",)
    )

    selection = select(runs.records, policy)

    # By hand, from the store, through the MLflow client.
    logged = [
        (r.info.run_name, r.data.metrics)
        for r in store.client.search_runs([store.experiment])
    ]
    passing = [(n, m) for n, m in logged if m["val/precision"] >= 0.3]
    expected = sorted(passing, key=lambda nm: (-nm[1]["val/recall"], -nm[1]["val/f1"]))
    assert [r.name for r in selection.ranked] == [n for n, _ in expected]
    assert {r.name for r, _ in selection.rejected} == {
        n for n, m in logged if m["val/precision"] < 0.3
    }


def test_tie_broken_by_the_tie_breaker_says_so(store: Store) -> None:
    store.run("a", {"val/recall": 0.8, "val/precision": 0.4})
    store.run("b", {"val/recall": 0.8, "val/precision": 0.6})
    store.run("c", {"val/recall": 0.7, "val/precision": 0.9})
    runs = store.read()

    selection = select(
        runs.records, Policy(objective="recall", tie_breakers=("precision",))
    )

    assert [r.name for r in selection.ranked] == ["b", "a", "c"]
    assert (
        "tied on val/recall with a, broken by val/precision (0.6000 vs 0.4000)"
        in selection.reason
    )


def test_full_tie_is_broken_by_name(store: Store) -> None:
    store.run("zeta", {"val/recall": 0.5})
    store.run("alpha", {"val/recall": 0.5})
    selection = select(store.read().records, Policy(objective="recall"))
    assert [r.name for r in selection.ranked] == ["alpha", "zeta"]
    assert "tied with zeta on every key, broken by run name" in selection.reason


def test_minimised_objective_chooses_the_lowest(store: Store) -> None:
    for name, loss in (("a", 0.40), ("b", 0.25), ("c", 0.31)):
        store.run(name, {"val/log_loss": loss})
    selection = select(store.read().records, Policy(objective="log_loss"))
    assert [r.name for r in selection.ranked] == ["b", "c", "a"]
    assert "lowest val/log_loss = 0.2500" in selection.reason


def test_objective_primary_reads_the_runs_primary_metric(store: Store) -> None:
    store.run("a", {"val/f1": 0.7, "val/recall": 0.9})
    store.run("b", {"val/f1": 0.8, "val/recall": 0.1})
    selection = select(store.read().records, Policy())
    assert selection.objective.key == "val/f1"
    assert [r.name for r in selection.ranked] == ["b", "a"]


def test_undefined_or_missing_objective_is_a_rejection(store: Store) -> None:
    store.run("nan", {"val/precision": math.nan, "val/recall": 0.0})
    store.run("missing", {"val/recall": 0.2})
    store.run("ok", {"val/precision": 0.5, "val/recall": 0.4})
    runs = store.read()

    selection = select(runs.records, Policy(objective="precision"))

    assert [r.name for r in selection.ranked] == ["ok"]
    assert dict((r.name, why) for r, why in selection.rejected) == {
        "nan": ["objective val/precision is undefined (nan)"],
        "missing": ["objective val/precision was not logged"],
    }


def test_nan_fails_every_constraint(store: Store) -> None:
    store.run("dummy", {"val/recall": 0.0, "val/precision": math.nan})
    selection = select(
        store.read().records, Policy(objective="recall", constraints=("precision<=1",))
    )
    assert selection.chosen is None
    assert selection.rejected[0][1][0] == (
        "val/precision<=1 failed: val/precision is undefined (nan)"
    )
    assert selection.reason.startswith("policy cli: no run of 1 passes every")


def test_validation_is_the_default_and_said_so(store: Store) -> None:
    store.run("a", {"val/recall": 0.5, "val/precision": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        selection = select(
            store.read().records,
            Policy(objective="recall", constraints=("precision>0",)),
        )
    assert selection.notes[0].startswith("selected on validation metrics (val/)")
    assert selection.reason.endswith("chosen on validation metrics")
    assert selection.warnings == []


def test_test_metrics_are_allowed_with_a_warning(store: Store) -> None:
    store.run("a", {"val/recall": 0.5, "test/precision": 0.6})
    policy = Policy(objective="recall", constraints=("test/precision>=0.5",))
    with pytest.warns(
        SelectionWarning,
        match=re.escape(
            "selection reads test metrics (test/precision): choosing on them makes "
            "the test set a tuning set"
        ),
    ):
        selection = select(store.read().records, policy)
    assert selection.chosen is not None
    assert not any(n.startswith("selected on validation") for n in selection.notes)
    assert selection.reason.endswith(
        "chosen on test metrics, so its test numbers are optimistic"
    )


def test_a_key_no_run_logged_is_an_error_with_close_keys(store: Store) -> None:
    store.run("a", {"val/recall": 0.5, "val/roc_auc": 0.7})
    runs = store.read()
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "objective key 'val/roc_auc_ovr' was logged by none of the runs, so every "
            "run would fail on it. Close keys they did log: val/roc_auc."
        ),
    ):
        select(
            runs.records, Policy(objective="roc_auc_ovr"), logged_keys=runs.logged_keys
        )


def test_runs_of_different_data_are_not_ranked_silently(store: Store) -> None:
    store.run("a", {"val/recall": 0.5})
    store.run("b", {"val/recall": 0.9}, {"runner.data_digest": "digest-2"})
    records = store.read().records
    with pytest.raises(
        ConfigError,
        match=(
            r"the runs come from 2 cohorts .* A: data digest digest-1, metric "
            r"definitions fp-1 v1 \(1 run\); B: data digest digest-2, .* pass "
            r"--rank-across to rank them together anyway"
        ),
    ):
        select(records, Policy(objective="recall"))

    with pytest.warns(SelectionWarning, match="ranked together"):
        selection = select(records, Policy(objective="recall", rank_across=True))
    assert [r.name for r in selection.ranked] == ["b", "a"]


def test_runs_of_different_metric_definitions_are_separate(store: Store) -> None:
    store.run("a", {"val/recall": 0.5})
    store.run(
        "b",
        {"val/recall": 0.9},
        {"runner.metrics_fingerprint": "fp-2", "runner.metrics_version": "2"},
    )
    with pytest.raises(ConfigError, match=r"metric definitions fp-2 v2"):
        select(store.read().records, Policy(objective="recall"))


# --------------------------------------------------------------------------
# Tagging


def tags_of(store: Store, run_id: str) -> dict[str, Any]:
    tags = store.client.get_run(run_id).data.tags
    return {k: v for k, v in tags.items() if k.startswith("runner.selection.")}


def test_choice_is_tagged_and_moves_when_the_runs_change(store: Store) -> None:
    first = store.run("first", {"val/recall": 0.6})
    policy = Policy(name="goal", objective="recall", constraints=("recall>=0.5",))
    runs = store.read()
    selection = select(runs.records, policy)
    tag_choice(store.client, selection, runs.records)
    assert tags_of(store, first) == {
        "runner.selection.goal": "chosen",
        "runner.selection.goal.reason": selection.reason,
    }

    second = store.run("second", {"val/recall": 0.8})
    runs = store.read()
    tag_choice(store.client, select(runs.records, policy), runs.records)
    assert tags_of(store, first) == {}
    assert tags_of(store, second)["runner.selection.goal"] == "chosen"

    stricter = Policy(name="goal", objective="recall", constraints=("recall>=0.9",))
    runs = store.read()
    tag_choice(store.client, select(runs.records, stricter), runs.records)
    assert tags_of(store, first) == {} and tags_of(store, second) == {}
