"""``python -m runner.rerun``: a logged run again, from its saved config.

Originals are made with the real command line; most reruns call
:func:`runner.rerun.main` in-process (the same code the command runs), one per
source kind through ``python -m runner.rerun`` itself.  Case C20 of
``shared/CASES.md`` (override values with special characters round-trip).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner import rerun
from tests.conftest import DATA, RunCli, Store

FAST = ["tracking.log_model=false", "tracking.plots=false"]


def same_metrics(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal keys and values, NaN equal to NaN."""
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a
    )


def reruns_of(store: Store, run_id: str) -> list[Any]:
    return [r for r in store.runs() if r.data.tags.get("runner.rerun_of") == run_id]


@dataclass
class Original:
    store: Store
    run: Any

    @property
    def folder(self) -> Path:
        return Path(self.run.data.tags["runner.output_dir"])


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Original:
    """One run of the real command line, shared by the tests that only read it."""
    home = tmp_path_factory.mktemp("original")
    store = Store(home=home, uri=f"sqlite:///{home / 'outputs' / 'mlflow.db'}")
    subprocess.run(
        [sys.executable, "-m", "runner", "model.n_estimators=20", *FAST],
        cwd=home,
        env=store.env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    (run,) = store.runs()
    return Original(store, run)


@pytest.fixture
def at_home(original: Original, monkeypatch: pytest.MonkeyPatch) -> Original:
    monkeypatch.setenv("RUNNER_HOME", str(original.store.home))
    return original


def copy_folder(original: Original, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(original.folder, folder)
    return folder


def edit_config(folder: Path, edit: Any) -> None:
    path = folder / "artifacts" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    edit(config)
    path.write_text(yaml.safe_dump(config))


@pytest.mark.slow
def test_reruns_reproduce_every_metric_across_datasets_and_models(
    run_cli: RunCli, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli("-m", "model=rf,hgb,knn", "dataset=wine,diabetes", *FAST)
    originals = store.runs()
    assert len(originals) == 7  # the sweep's parent and six jobs
    monkeypatch.setenv("RUNNER_HOME", str(store.home))

    for run in originals:
        if run.data.tags.get("runner.role") == "sweep":
            continue
        assert rerun.main([run.info.run_id, "--tracking-uri", store.uri]) == 0
        (again,) = reruns_of(store, run.info.run_id)
        assert again.data.tags["runner.reproduced"] == "true"
        assert same_metrics(again.data.metrics, run.data.metrics)
        assert again.data.params == run.data.params
        assert again.info.run_name == f"{run.info.run_name}-rerun"


def test_rerun_command_from_a_folder_records_its_overrides(
    original: Original,
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.rerun",
            str(original.folder),
            "model.max_depth=2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=original.store.env(),
    )
    assert proc.returncode == 0, proc.stderr
    (again,) = reruns_of(original.store, original.run.info.run_id)
    params, tags = again.data.params, again.data.tags

    assert params["model.max_depth"] == "2"
    assert params["model.n_estimators"] == "20"  # the original's, not today's 100
    assert tags["runner.rerun.overrides"] == "model.max_depth=2"
    assert tags["runner.overrides"] == " ".join(
        ["model.n_estimators=20", *FAST, "model.max_depth=2"]
    )
    assert again.info.run_name == f"{original.run.info.run_name}-rerun-max_depth=2"
    differ = [
        k
        for k, v in again.data.metrics.items()
        if not (
            v == original.run.data.metrics[k]
            or (math.isnan(v) and math.isnan(original.run.data.metrics[k]))
        )
    ]
    assert tags["runner.reproduced"] == ("false" if differ else "true")
    assert tags["runner.rerun.differences"] == str(len(differ))
    assert f"changed by the overrides: {len(differ)} of " in proc.stdout
    for key in differ:
        assert f"  {key}: original {original.run.data.metrics[key]!r}" in proc.stdout


def test_rerun_runs_the_saved_config_not_todays_defaults(
    at_home: Original, tmp_path: Path
) -> None:
    # A saved value today's conf/ does not have: only the saved config has it.
    folder = copy_folder(at_home, tmp_path)
    edit_config(folder, lambda c: c["model"].update(min_samples_leaf=7))

    assert rerun.main([str(folder), "--tracking-uri", at_home.store.uri]) == 0
    runs = [
        r
        for r in at_home.store.runs()
        if r.data.tags.get("runner.rerun.source") == f"folder {folder}"
    ]
    (again,) = runs
    assert again.data.params["model.min_samples_leaf"] == "7"
    assert "runner.rerun_of" not in again.data.tags  # no run was logged from there


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            lambda c: c["model"].update(_classifier_="os.system"),
            r"names the class model\._classifier_='os\.system', which this machine "
            r"does not admit .*--allow PREFIX",
            id="a class outside the allow-list",
        ),
        pytest.param(
            lambda c: c.update(allow_targets=["sklearn.", "os."]),
            r"allow_targets admits 'os\.', beyond this machine's allowed prefixes",
            id="an allow-list widened by the run itself",
        ),
        pytest.param(
            lambda c: c["dataset"].update(name="${oc.env:HOME}"),
            r"sets dataset\.name='\$\{oc\.env:HOME\}', an interpolation that calls "
            r"a resolver",
            id="a resolver call",
        ),
    ],
)
def test_a_loaded_config_is_data(
    at_home: Original,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Any,
    message: str,
) -> None:
    folder = copy_folder(at_home, tmp_path)
    edit_config(folder, edit)
    before = len(at_home.store.runs())

    assert rerun.main([str(folder), "--tracking-uri", at_home.store.uri]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert len(at_home.store.runs()) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["nope"],
            r"RUN 'nope' is neither a folder nor an MLflow run "
            r"id\. Give a run id",
            id="neither a run id nor a folder",
        ),
        pytest.param(
            ["0" * 32],
            r"run '0{32}' is not in the store .* Pass the store "
            r"it was logged to with --tracking-uri",
            id="unknown run id",
        ),
        pytest.param(
            ["{id}", "model=logreg"],
            r"changes the group choice 'model', "
            r"which would compose today's defaults",
            id="a group choice",
        ),
        pytest.param(
            ["{id}", "model.max_depth=2,3"],
            r"is a sweep; a rerun runs "
            r"one job",
            id="a sweep",
        ),
        pytest.param(
            ["{id}", "model.max_dept=2"],
            r"names a key the saved config "
            r"does not have",
            id="a misspelled key",
        ),
    ],
)
def test_bad_rerun_input(
    at_home: Original,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    args = [a.format(id=at_home.run.info.run_id) for a in args]
    assert rerun.main([*args, "--tracking-uri", at_home.store.uri]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_rerun_warns_when_package_versions_differ(
    at_home: Original,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = at_home.store.client()
    run_id = at_home.run.info.run_id
    old = json.loads(at_home.run.data.tags["runner.versions"])
    assert old["scikit-learn"] == version("scikit-learn")
    try:
        client.set_tag(
            run_id, "runner.versions", json.dumps({**old, "scikit-learn": "1.0.0"})
        )
        assert rerun.main([run_id, "--tracking-uri", at_home.store.uri]) == 0
    finally:
        client.set_tag(run_id, "runner.versions", json.dumps(old))
    expected = (
        f"package scikit-learn differs: original 1.0.0, rerun {version('scikit-learn')}"
    )
    assert expected in caplog.text
    assert f"warning  {expected}" in capsys.readouterr().out


def test_rerun_warns_when_the_data_changed(
    run_cli: RunCli, store: Store, tmp_path: Path
) -> None:
    # C20 too: a file name with '=' and '#', quoted for Hydra on the way in.
    data = tmp_path / "epoch=12#penguins.csv"
    shutil.copy(DATA / "penguins.csv", data)
    run_cli(
        "dataset=csv",
        f"dataset.path='{data}'",
        "dataset.target=species",
        "model=logreg",
        *FAST,
    )
    (first,) = store.runs()
    assert first.data.params["dataset.path"] == str(data)

    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines[:-30]) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "runner.rerun", first.info.run_id],
        capture_output=True,
        text=True,
        timeout=300,
        env=store.env(),
        cwd=store.home,
    )
    (again,) = reruns_of(store, first.info.run_id)
    assert again.data.params["dataset.path"] == str(data)
    assert "the data differ (data digest)" in proc.stderr
    assert "the data file differs (sha256)" in proc.stderr
    assert again.data.tags["runner.reproduced"] == "false"
    assert proc.returncode == 1
    assert os.path.exists(data)


def test_a_failed_run_reruns_and_fails_the_same_way(
    run_cli: RunCli,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 1000 neighbours pass the parameter check, then fail on 341 training rows.
    run_cli("model=knn", "model.n_neighbors=1000", *FAST, expect=1)
    (failed,) = store.runs()
    names = {a.path for a in store.client().list_artifacts(failed.info.run_id)}
    assert {"config.yaml", "choices.yaml", "overrides.yaml", "error.txt"} <= names

    monkeypatch.setenv("RUNNER_HOME", str(store.home))
    assert rerun.main([failed.info.run_id, "--tracking-uri", store.uri]) == 1
    err = capsys.readouterr().err
    assert "ValueError: Expected n_neighbors <= n_samples_fit" in err
    assert "FileNotFoundError" not in err
    (again,) = reruns_of(store, failed.info.run_id)
    assert again.info.status == "FAILED"
    assert "n_neighbors" in again.data.tags["runner.error"]
    names = {a.path for a in store.client().list_artifacts(again.info.run_id)}
    assert "error.txt" in names
