"""Shared fixtures: a throw-away MLflow store and the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Real public datasets, kept outside the repo (see shared/data/README.md).
DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@dataclass
class Store:
    """A fresh sqlite MLflow store and output folder under ``tmp_path``."""

    home: Path
    uri: str

    def client(self) -> Any:
        from mlflow import MlflowClient

        from runner.tracking import store_lock

        # Opening a fresh sqlite store creates its schema; a runner process
        # may be doing the same, so take the runner's lock (CASES C17).
        with store_lock(self.uri):
            return MlflowClient(tracking_uri=self.uri)

    def runs(self, experiment: str = "runner") -> list[Any]:
        if not Path(self.uri.removeprefix("sqlite:///")).exists():
            return []
        client = self.client()
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            return []
        return list(
            client.search_runs([exp.experiment_id], order_by=["attributes.start_time"])
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["RUNNER_HOME"] = str(self.home)
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        env.pop("MLFLOW_RUN_ID", None)
        env.pop("MLFLOW_TRACKING_URI", None)
        return env


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(home=tmp_path, uri=f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")


RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(store: Store) -> RunCli:
    """Run ``python -m runner ARGS`` in a subprocess against ``store``."""

    def run(
        *args: str,
        expect: int | None = 0,
        cwd: Path | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "runner", *args]
        proc = subprocess.run(
            cmd,
            cwd=cwd or store.home,
            env=store.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if expect is not None and proc.returncode != expect:
            raise AssertionError(
                f"{cmd} exited {proc.returncode}, expected {expect}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    return run


@pytest.fixture(scope="module")
def shared_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A module's store: a copy of one empty store made once per session
    (creating MLflow's sqlite schema takes 3-9 s here, copying it milliseconds)."""
    import shutil

    from mlflow import MlflowClient

    template = tmp_path_factory.getbasetemp() / "mlflow-empty-store" / "mlflow.db"
    if not template.exists():
        template.parent.mkdir(exist_ok=True)
        MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"
