"""``tracking=server``: sweeps and reruns against a real ``mlflow server``.

One server per module (it takes about 30 s to answer here), started on
127.0.0.1 with a sqlite backend under the test's folder and stopped by its pid.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunCli, Store

FAST = ["tracking.log_model=false", "tracking.plots=false"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server at {url} did not answer in {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a fresh ``mlflow server`` with a sqlite backend."""
    root = tmp_path_factory.mktemp("server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        _wait_healthy(url, proc, timeout=180)
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session, started above
            proc.wait()
        log.close()


def _client(url: str):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=url)


@pytest.mark.slow
def test_parallel_sweep_logs_to_the_server(
    server: str, run_cli: RunCli, store: Store, tmp_path: Path
) -> None:
    run_cli(
        "-m",
        "tracking=server",
        f"tracking.uri={server}",
        "tracking.experiment=server_sweep",
        "hydra/launcher=local",
        "model=logreg",
        "model.C=0.1,1",
        "seed=0,1",
        *FAST,
    )

    client = _client(server)
    experiment = client.get_experiment_by_name("server_sweep")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("runner.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parents) == 1 and len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {
        parents[0].info.run_id
    }
    assert {r.info.status for r in runs} == {"FINISHED"}
    # Nothing went to the local store.
    assert not Path(store.uri.removeprefix("sqlite:///")).exists()
    # Artifacts went through the server and match the job's own files.
    child = children[0]
    served = client.download_artifacts(child.info.run_id, "config.yaml", str(tmp_path))
    local = Path(child.data.tags["runner.output_dir"]) / "artifacts" / "config.yaml"
    assert Path(served).read_text() == local.read_text()


@pytest.mark.slow
def test_rerun_against_the_server(server: str, run_cli: RunCli, store: Store) -> None:
    run_cli(
        "tracking=server",
        f"tracking.uri={server}",
        "tracking.experiment=server_rerun",
        "model=knn",
        *FAST,
    )
    client = _client(server)
    experiment = client.get_experiment_by_name("server_rerun")
    (original,) = client.search_runs([experiment.experiment_id])

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.rerun",
            original.info.run_id,
            "--tracking-uri",
            server,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=store.env(),
    )
    assert proc.returncode == 0, proc.stderr
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`runner.rerun_of` != ''"
    )
    assert len(runs) == 1
    rerun = runs[0]
    assert rerun.data.tags["runner.rerun_of"] == original.info.run_id
    assert rerun.data.tags["runner.reproduced"] == "true"
    assert same_metrics(rerun.data.metrics, original.data.metrics)


def same_metrics(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal keys and values, NaN equal to NaN."""
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a
    )


def test_server_preset_reads_the_uri_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from runner._cli import register
    from runner._paths import conf_dir

    register()
    uris = {}
    for value in ("http://mlflow.team:5000", None):
        if value is None:
            monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        else:
            monkeypatch.setenv("MLFLOW_TRACKING_URI", value)
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            try:
                cfg = compose("config", overrides=["tracking=server"])
            finally:
                GlobalHydra.instance().clear()
        uris[value] = cfg.tracking.uri
    assert uris == {
        "http://mlflow.team:5000": "http://mlflow.team:5000",
        None: "http://127.0.0.1:5000",
    }
