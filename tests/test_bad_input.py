"""Bad input fails before any training, says what and how to fix, leaves no run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import DATA, RunCli, Store


def csv_file(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def csv_args(path: Path, target: str = "y", *extra: str) -> list[str]:
    return ["dataset=csv", f"dataset.path={path}", f"dataset.target={target}", *extra]


CASES = [
    pytest.param(
        ["model=rff"],
        r"model='rff' is not a choice of the 'model' group; the choices are "
        r"\['dummy', 'hgb', 'knn', 'logreg', 'rf', 'svm'\]\. Did you mean 'rf'\?",
        id="unknown_group_choice",
    ),
    pytest.param(
        ["-m", "model=rf,logreg,knnn"],
        r"model='knnn' is not a choice.*Did you mean 'knn'\?",
        id="unknown_choice_in_a_sweep_fails_before_the_first_job",
    ),
    pytest.param(
        ["dataset.targt=x"],
        r"unknown config key 'dataset\.targt'.*Did you mean 'dataset\.target'",
        id="misspelled_key",
    ),
    pytest.param(
        ["modle.C=2"],
        r"no top-level key 'modle'\. Did you mean 'model\.C'\?",
        id="misspelled_section",
    ),
    pytest.param(
        ["seeed=1"],
        r"unknown config key 'seeed' \(in override 'seeed=1'\): the config has "
        r"no top-level key 'seeed'\. Did you mean 'seed'\?",
        id="misspelled_top_level_key",
    ),
    pytest.param(
        ["+modle.C=2"],
        r"unknown config key 'modle': no part of the runner reads it.*"
        r"Did you mean 'model'\?",
        id="plus_key_outside_the_schema",
    ),
    pytest.param(
        ["model.max_dept=3"],
        r"unknown config key 'model\.max_dept'.*Did you mean 'model\.max_depth'",
        id="misspelled_model_key",
    ),
    pytest.param(
        ["+model.C=2"],
        r"RandomForestClassifier \(model=rf\) has no parameter 'C'",
        id="plus_key_not_a_constructor_argument",
    ),
    pytest.param(
        ["split.val_size=abc"],
        r"split\.val_size: Value 'abc' of type 'str' could not be converted to "
        r"Float",
        id="wrong_type_in_schema",
    ),
    pytest.param(
        ["model.n_estimators=abc"],
        r"The 'n_estimators' parameter of RandomForestClassifier must be an int "
        r"in the range \[1, inf\)\. Got 'abc' instead",
        id="wrong_type_for_estimator",
    ),
    pytest.param(
        ["model=logreg", "model.C=-1"],
        r"The 'C' parameter of LogisticRegression must be a float in the range "
        r"\(0\.0, inf\]",
        id="out_of_range_for_estimator",
    ),
    pytest.param(
        ["model=logreg", "dataset=diabetes"],
        r"model=logreg has no regression estimator",
        id="classification_only_model_on_regression",
    ),
    pytest.param(
        ["model._classifier_=os.system"],
        r"model\._classifier_='os\.system' is not allowed: a config may only name "
        r"classes under \['sklearn\.'\]",
        id="target_outside_allow_list",
    ),
    pytest.param(
        ["dataset=csv"],
        r"dataset=csv needs dataset\.path and dataset\.target, not set",
        id="missing_mandatory_values",
    ),
    pytest.param(
        ["dataset=csv", "dataset.path=no/such/file.csv", "dataset.target=y"],
        r"dataset\.path: no file at '.*no/such/file\.csv' \(given "
        r"'no/such/file\.csv'",
        id="missing_csv_file",
    ),
    pytest.param(
        [
            "dataset=csv",
            f"dataset.path={DATA / 'titanic.csv'}",
            "dataset.target=survive",
        ],
        r"column 'survive' is not in the file; its columns are \['survived',.*"
        r"Did you mean 'survived'",
        id="target_not_in_file",
    ),
    pytest.param(
        [
            "dataset=csv",
            f"dataset.path={DATA / 'titanic.csv'}",
            "dataset.target=survived",
        ],
        r"the target 'survived' is binary with labels \[0, 1\]; declare which one "
        r"is the positive class, e\.g\. dataset\.positive_label=1",
        id="binary_without_positive_label",
    ),
    pytest.param(
        [
            "dataset=csv",
            f"dataset.path={DATA / 'titanic.csv'}",
            "dataset.target=survived",
            "dataset.positive_label=yes",
        ],
        r"dataset\.positive_label='yes' is not a label of 'survived'; its labels "
        r"are \[0, 1\]",
        id="positive_label_not_a_label",
    ),
    pytest.param(
        ["metrics.primary=f2"],
        r"metrics\.primary='f2' is not in the metric suite.*Did you mean .*'f1'",
        id="primary_metric_not_in_suite",
    ),
    pytest.param(
        ["metrics.suite=[accuracy,recal]"],
        r"metrics\.suite: unknown metric 'recal' for task 'binary'\. Did you mean "
        r"'recall'\?",
        id="unknown_metric_in_suite",
    ),
    pytest.param(
        ["split.test_size=0.6", "split.val_size=0.5"],
        r"split\.val_size \+ split\.test_size must be below 1; got 0\.5 \+ 0\.6",
        id="split_fractions_too_large",
    ),
    pytest.param(
        ["ckpt=epoch=12"],
        r"cannot parse the override 'ckpt=epoch=12'.*quoted for Hydra inside "
        r"shell quotes: \"ckpt='epoch=12'\"",
        id="override_value_with_equals_sign",
    ),
]


@pytest.mark.parametrize(("args", "message"), CASES)
def test_bad_input_fails_before_any_run(
    run_cli: RunCli, store: Store, args: list[str], message: str
) -> None:
    proc = run_cli(*args, expect=2)
    assert re.search(message, proc.stderr, flags=re.S), proc.stderr
    assert "Traceback" not in proc.stderr
    assert store.runs() == []
    assert not (store.home / "outputs" / "mlflow.db").exists()


DATA_CASES = [
    pytest.param(
        "x,y\n1,a\n2,a\n3,a\n4,a\n5,a\n",
        [],
        r"column 'y' has a single value \('a'\) in all 5 rows",
        id="single_class_target",
    ),
    pytest.param(
        "x,y\n1,a\n2,\n3,b\n4,a\n5,b\n6,a\n7,b\n8,a\n9,b\n10,a\n",
        ["dataset.positive_label=a"],
        r"1 of 10 rows have no value in column 'y'.*"
        r"dataset\.drop_missing_target=true",
        id="missing_target_values",
    ),
    pytest.param(
        "x,y\n1,a\n2,b\n3,a\n4,b\n5,a\n6,b\n",
        ["dataset.positive_label=a"],
        r"dataset too small for a stratified split of 2 classes \(train 3, val 1, "
        r"test 2 of 6 rows\)",
        id="too_small_for_the_split",
    ),
    pytest.param(
        "x,y\n" + "".join(f"{i},a\n" for i in range(20)) + "20,b\n21,b\n",
        ["dataset.positive_label=b"],
        r"class 'b' has 2 row\(s\) and every split needs one",
        id="class_too_rare_to_stratify",
    ),
    pytest.param(
        "x,y\n1,a\n2,b\n",
        ["dataset.drop=[z]"],
        r"dataset\.drop: column 'z' is not in the file",
        id="dropped_column_not_in_file",
    ),
]


@pytest.mark.parametrize(("text", "extra", "message"), DATA_CASES)
def test_bad_data_fails_before_any_run(
    run_cli: RunCli,
    store: Store,
    tmp_path: Path,
    text: str,
    extra: list[str],
    message: str,
) -> None:
    path = csv_file(tmp_path, text)
    proc = run_cli(*csv_args(path, "y", *extra), expect=2)
    assert re.search(message, proc.stderr, flags=re.S), proc.stderr
    assert store.runs() == []


def test_bad_value_from_a_preset_sweep_fails_before_the_first_job(
    run_cli: RunCli, store: Store
) -> None:
    # rf_grid sweeps model.n_estimators, which logistic regression lacks.
    proc = run_cli("sweep=rf_grid", "model=logreg", expect=2)
    assert "unknown config key 'model.n_estimators'" in proc.stderr
    assert store.runs() == []
