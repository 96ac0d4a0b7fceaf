"""Tracking and config cases of shared/CASES.md that apply to a single run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import tracking
from runner._naming import run_name, short_value
from tests.conftest import DATA, RunCli, Store


def test_c12_long_param_values_are_summarised_not_truncated() -> None:
    features = [f"f_{i:04d}" for i in range(1000)]
    params = tracking.param_values({"data": {"features": features, "k": 3}})
    assert params["data.k"] == "3"
    assert params["data.features"].startswith("<summarised: 1000 items, sha256 ")
    assert all(len(v) <= 6000 for v in params.values())


def test_c13_params_come_from_the_config_once(run_cli: RunCli, store: Store) -> None:
    run_cli(
        "model=hgb",
        "model.learning_rate=0.05",
        "tracking.log_model=false",
        "tracking.plots=false",
    )
    params = store.runs()[0].data.params
    assert params["model.learning_rate"] == "0.05"
    assert not any(k.startswith("estimator.") for k in params)


def test_run_names_follow_the_documented_rule() -> None:
    defaults = {"model.max_depth": None, "seed": 0, "model.C": 1.0}
    name = run_name(
        "rf",
        "iris",
        [
            ("model.max_depth", 3),
            ("seed", 0),
            ("model.C", 0.123456),
            ("tracking.uri", "sqlite:///x.db"),
            ("split", "time"),
            ("dataset.path", "/a/b.csv"),
        ],
        lambda k: defaults.get(k, object()) if k != "split" else "holdout",
    )
    assert name == "rf-iris-max_depth=3-C=0.1235-split=time"
    assert short_value("/data/raw/file.csv") == "file.csv"
    assert "/" not in run_name("rf", "x", [("dataset.sep", "a/b")], lambda k: object())


def test_c26_c17_runs_started_together_get_their_own_folders(store: Store) -> None:
    cmd = [
        sys.executable,
        "-m",
        "runner",
        "model=dummy",
        "tracking.log_model=false",
        "tracking.plots=false",
    ]
    procs = [
        subprocess.Popen(
            cmd,
            cwd=store.home,
            env=store.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    # The store does not exist yet: the three also race to create it (C17).
    for p in procs:
        p.communicate(timeout=300)
    runs = store.runs()
    dirs = {r.data.tags["runner.output_dir"] for r in runs}
    assert len(runs) == 3 and len(dirs) == 3
    for d in dirs:
        overrides = Path(d, ".hydra", "overrides.yaml").read_text()
        assert "model=dummy" in overrides


def test_c27_relative_data_path_with_chdir(
    run_cli: RunCli, store: Store, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_bytes((DATA / "penguins.csv").read_bytes())
    run_cli(
        "dataset=csv",
        "dataset.path=data/train.csv",
        "dataset.target=species",
        "hydra.job.chdir=true",
        "model=dummy",
        "tracking.log_model=false",
        "tracking.plots=false",
        cwd=tmp_path,
    )
    run = store.runs()[0]
    assert run.data.tags["runner.data_source"] == str(data / "train.csv")


def test_exception_during_training_ends_the_run_failed(
    run_cli: RunCli, store: Store
) -> None:
    # 1000 neighbours pass the parameter check but not predict on 341 rows.
    proc = run_cli(
        "model=knn", "model.n_neighbors=1000", "tracking.log_model=false", expect=1
    )
    run = store.runs()[0]
    assert run.info.status == "FAILED"
    assert "n_neighbors" in run.data.tags["runner.error"]
    names = {a.path for a in store.client().list_artifacts(run.info.run_id)}
    assert "error.txt" in names
    assert "n_neighbors" in proc.stderr


def start_long_run(store: Store) -> subprocess.Popen[bytes]:
    """Start a run that fits for a while; return once its MLflow run exists."""
    cmd = [
        sys.executable,
        "-m",
        "runner",
        "model.n_estimators=5000",
        "tracking.log_model=false",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=store.home,
        env=store.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not store.runs():
        time.sleep(0.5)
    assert store.runs(), "the run never started"
    return proc


def test_c16_sigterm_ends_the_run_killed(store: Store) -> None:
    proc = start_long_run(store)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    run = store.runs()[0]
    assert run.info.status == "KILLED"
    assert "SIGTERM" in run.data.tags["runner.error"]


def test_c16_runs_left_running_by_dead_processes_are_closed(
    run_cli: RunCli, store: Store
) -> None:
    run_cli("model=dummy", "tracking.log_model=false", "tracking.plots=false")
    client = store.client()
    exp = client.get_experiment_by_name("runner")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = client.create_run(
        exp.experiment_id,
        run_name="stale",
        tags={"runner.host": socket.gethostname(), "runner.pid": str(dead.pid)},
    )
    alive = client.create_run(
        exp.experiment_id,
        run_name="alive",
        tags={"runner.host": socket.gethostname(), "runner.pid": str(os.getpid())},
    )
    run_cli("model=dummy", "tracking.log_model=false", "tracking.plots=false")
    assert client.get_run(stale.info.run_id).info.status == "KILLED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
    client.set_terminated(alive.info.run_id)


@pytest.mark.parametrize("value", ["'ckpt/epoch=12-step=3400.ckpt'", "'#1'"])
def test_c20_quoted_override_values_reach_the_run(
    run_cli: RunCli, store: Store, value: str
) -> None:
    run_cli(
        "model=dummy",
        f"tracking.run_name={value}",
        "tracking.log_model=false",
        "tracking.plots=false",
    )
    assert store.runs()[0].info.run_name == value.strip("'")


def test_c16_run_of_a_killed_runner_is_closed_by_the_next_run(
    run_cli: RunCli, store: Store
) -> None:
    proc = start_long_run(store)
    proc.kill()  # SIGKILL: nothing in the process can react
    proc.wait(timeout=30)
    assert store.runs()[0].info.status == "RUNNING"
    run_cli("model=dummy", "tracking.log_model=false", "tracking.plots=false")
    killed = store.runs()[0]
    assert killed.info.status == "KILLED"
    assert killed.data.tags["runner.error"] == f"process {proc.pid} died"
