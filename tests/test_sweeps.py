"""Sweeps through the real command line: parent and child runs, presets, failures.

Cases C15 (child runs of one parent across processes), C16 (no run left
RUNNING, failures visible) and C26 (sweeps started together never share a
folder) of ``shared/CASES.md``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner._paths import conf_dir
from tests.conftest import REPO, RunCli, Store

FAST = ["tracking.log_model=false", "tracking.plots=false"]


def parent_and_children(store: Store) -> tuple[Any, list[Any]]:
    runs = store.runs()
    parents = [r for r in runs if r.data.tags.get("runner.role") == "sweep"]
    assert len(parents) == 1, [r.info.run_name for r in runs]
    parent = parents[0]
    children = [r for r in runs if r is not parent]
    return parent, sorted(children, key=lambda r: int(r.data.tags["runner.job_num"]))


def test_grid_sweep_has_one_parent_and_a_child_per_job(
    run_cli: RunCli, store: Store
) -> None:
    proc = run_cli("-m", "model=logreg", "model.C=0.01,0.123456789", "seed=0,1", *FAST)
    parent, children = parent_and_children(store)

    assert len(children) == 4
    assert {r.info.status for r in [parent, *children]} == {"FINISHED"}
    sweep_id = parent.data.tags["runner.sweep_id"]
    for job, child in enumerate(children):
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["runner.sweep_id"] == sweep_id
        assert child.data.tags["runner.job_num"] == str(job)
    names = [c.info.run_name for c in children]
    assert names == [
        "logreg-breast_cancer-C=0.01",
        "logreg-breast_cancer-C=0.01-seed=1",
        "logreg-breast_cancer-C=0.1235",
        "logreg-breast_cancer-C=0.1235-seed=1",
    ]
    assert parent.info.run_name == "sweep-logreg-breast_cancer-C=0.01,0.1235-seed=0,1"

    # The summary on the parent, recomputed from the children.
    values = [c.data.metrics["val/f1"] for c in children]
    best = children[values.index(max(values))]
    m = parent.data.metrics
    assert (m["sweep/jobs"], m["sweep/finished"], m["sweep/failed"]) == (4, 4, 0)
    assert m["best/val/f1"] == max(values)
    assert parent.data.tags["runner.sweep.best_run_id"] == best.info.run_id

    # Progress as it goes, then the table.
    for k in range(1, 5):
        assert f"Sweep: job {k} of 4 done" in proc.stdout
    assert "0 failed so far" in proc.stdout
    table = proc.stdout[proc.stdout.index("sweep    sweep-logreg") :]
    for child, value in zip(children, values, strict=True):
        assert f"{child.info.run_name}" in table
        assert f"FINISHED  {value:.4f}" in table


def test_a_failed_job_does_not_stop_the_others(run_cli: RunCli, store: Store) -> None:
    # 500 neighbours pass the parameter check but exceed the 341 training rows,
    # so job 1 fails at prediction time, after its run was opened.
    proc = run_cli("-m", "model=knn", "model.n_neighbors=3,500,7", *FAST, expect=1)
    parent, children = parent_and_children(store)

    assert [c.info.status for c in children] == ["FINISHED", "FAILED", "FINISHED"]
    assert "n_neighbors" in children[1].data.tags["runner.error"]
    assert parent.info.status == "FAILED"
    assert parent.data.metrics["sweep/failed"] == 1
    assert parent.data.tags["runner.sweep.failed_jobs"] == "1"
    assert "failed   1 of 3 jobs:" in proc.stderr
    assert (
        "#1 knn-breast_cancer-n_neighbors=500: ValueError: Expected n_neighbors"
        in proc.stderr
    )
    assert "1 failed so far" in proc.stdout


def test_sweep_preset_needs_no_long_command_line(run_cli: RunCli, store: Store) -> None:
    spec = yaml.safe_load((conf_dir() / "sweep" / "rf_grid.yaml").read_text())
    grid = spec["hydra"]["sweeper"]["params"]
    n = 1
    for values in grid.values():
        n *= len(str(values).split(","))

    run_cli("sweep=rf_grid", *FAST)
    parent, children = parent_and_children(store)

    assert len(children) == n == 6
    sizes = {c.data.params["model.n_estimators"] for c in children}
    assert sizes == {v.strip() for v in str(grid["model.n_estimators"]).split(",")}
    assert all("sweep=" not in c.info.run_name for c in children)
    assert len({c.info.run_name for c in children}) == 6
    assert parent.data.tags["runner.sweep.jobs"] == "6"


@pytest.mark.parametrize(
    "preset", sorted(p.stem for p in (conf_dir() / "sweep").glob("*.yaml"))
)
def test_every_sweep_preset_composes(preset: str) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from runner._cli import register
    from runner._sweep import count_jobs

    register()
    if preset.endswith("optuna"):
        pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        try:
            cfg = compose(
                "config", overrides=[f"sweep={preset}"], return_hydra_config=True
            )
        finally:
            GlobalHydra.instance().clear()
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.hydra.sweeper.params
    assert (count_jobs(cfg) or 0) > 1


def test_every_experiment_preset_runs(run_cli: RunCli, store: Store) -> None:
    presets = sorted(p for p in (conf_dir() / "experiment").glob("*.yaml"))
    names = [p.stem for p in presets]
    # From the project folder, where the presets' relative data paths start.
    run_cli("-m", f"experiment={','.join(names)}", *FAST, cwd=REPO)
    parent, children = parent_and_children(store)

    # Named by what varies, not by the launching config's model and data.
    assert parent.info.run_name == f"sweep-experiment={','.join(names)}"

    assert len(children) == len(presets)
    for path, child in zip(presets, children, strict=True):
        spec = yaml.safe_load(path.read_text())
        tags = child.data.tags
        assert child.info.status == "FINISHED"
        assert tags["runner.choice.experiment"] == path.stem
        for entry in spec.get("defaults", []):
            ((key, value),) = entry.items()
            group = key.removeprefix("override /")
            assert tags[f"runner.choice.{group}"] == value
        for key, value in (spec.get("metrics") or {}).items():
            assert child.data.params[f"metrics.{key}"] == str(value)


def test_sweeps_started_together_never_share_a_folder(store: Store) -> None:
    # C26: two sweeps launched at the same moment, two jobs each, into one
    # existing store (first use of a fresh one is C17, in test_parallel.py).
    store.client().search_experiments()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner",
                "-m",
                "model=dummy",
                f"seed={3 * i},{3 * i + 1}",
                *FAST,
            ],
            cwd=store.home,
            env=store.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    runs = store.runs()
    parents = [r for r in runs if r.data.tags.get("runner.role") == "sweep"]
    folders = {Path(p.data.tags["runner.sweep.dir"]) for p in parents}
    assert len(parents) == 2 and len(folders) == 2
    for parent in parents:
        folder = Path(parent.data.tags["runner.sweep.dir"])
        children = [
            r
            for r in runs
            if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
        ]
        seeds = sorted(c.data.params["seed"] for c in children)
        assert len(seeds) == 2
        jobs = sorted(p for p in folder.iterdir() if (p / ".hydra").is_dir())
        written = sorted(
            yaml.safe_load((j / ".hydra" / "overrides.yaml").read_text())[1]
            for j in jobs
        )
        assert written == [f"seed={s}" for s in seeds]
        for child in children:
            assert Path(child.data.tags["runner.output_dir"]).parent == folder


def test_a_used_output_folder_is_refused(run_cli: RunCli, store: Store) -> None:
    folder = store.home / "fixed"
    run_cli(f"hydra.run.dir={folder}", "model=dummy", *FAST)
    proc = run_cli(f"hydra.run.dir={folder}", "model=dummy", *FAST, expect=2)

    assert "already holds another run's files" in proc.stderr
    assert f"'{folder}'" in proc.stderr and "hydra.run.dir" in proc.stderr
    assert len(store.runs()) == 1


@pytest.mark.slow
def test_sigterm_ends_the_sweep_and_its_running_job_killed(store: Store) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "-m",
            "model.n_estimators=4000,4001",
            "model.n_jobs=1",
            *FAST,
        ],
        cwd=store.home,
        env=store.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(r.data.tags.get("runner.job_num") for r in store.runs()):
                break
            time.sleep(0.5)
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    parent, children = parent_and_children(store)
    assert parent.info.status == "KILLED"
    assert [c.info.status for c in children] == ["KILLED"]
    assert "interrupted" in children[0].data.tags["runner.error"]


def test_direction_comes_from_the_metric_registry() -> None:
    from runner._sweep import direction_of
    from runner.errors import ConfigError

    assert direction_of("f1") == "maximize"
    assert direction_of("roc_auc") == "maximize"
    assert direction_of("rmse") == "minimize"
    assert direction_of("log_loss") == "minimize"
    with pytest.raises(ConfigError, match=r"metrics\.primary, which is null"):
        direction_of(None)
    with pytest.raises(
        ConfigError,
        match=r"metrics\.primary='rmsee' cannot be "
        r"optimised.*Did you mean 'rmse'",
    ):
        direction_of("rmsee")


optuna = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
    reason="the optuna extra is not installed (pip install -e '.[optuna]')",
)


@optuna
@pytest.mark.parametrize(
    ("args", "metric", "direction"),
    [
        pytest.param([], "f1", "maximize", id="f1 on breast cancer is maximised"),
        pytest.param(
            ["dataset=diabetes", "metrics.primary=rmse"],
            "rmse",
            "minimize",
            id="rmse on diabetes is minimised",
        ),
    ],
)
def test_optuna_trials_are_child_runs(
    run_cli: RunCli, store: Store, args: list[str], metric: str, direction: str
) -> None:
    proc = run_cli("sweep=rf_optuna", "hydra.sweeper.n_trials=3", *args, *FAST)
    parent, children = parent_and_children(store)

    assert len(children) == 3
    assert f"Directions: ['{direction}']" in proc.stdout
    assert parent.data.tags["runner.sweep.direction"] == direction
    values = [c.data.metrics[f"val/{metric}"] for c in children]
    best = max(values) if direction == "maximize" else min(values)
    assert parent.data.metrics[f"best/val/{metric}"] == best
    # Optuna saw the same objective the runs logged.
    assert f"Best value: {best}" in proc.stdout
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert 20 <= int(child.data.params["model.n_estimators"]) <= 300
