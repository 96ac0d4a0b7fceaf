"""Sweeps whose jobs run in other processes: joblib, Ray, Submitit.

Case C17 of ``shared/CASES.md``: parallel jobs on a sqlite store that does not
exist yet.  The launching process creates the store, the experiment and the
sweep's parent run before any worker starts, so every job is logged.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli, Store

FAST = ["tracking.log_model=false", "tracking.plots=false"]


def plugin(name: str, extra: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(f"hydra_plugins.{name}") is None,
        reason=f"the {extra} extra is not installed (pip install -e '.[{extra}]')",
    )


def check_sweep(store: Store, n: int) -> tuple[Any, list[Any]]:
    """The one parent and its ``n`` finished children, all in one sweep folder."""
    runs = store.runs()
    parents = [r for r in runs if r.data.tags.get("runner.role") == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r is not parent]
    assert len(children) == n, [c.info.run_name for c in children]
    assert parent.info.status == "FINISHED"
    assert {c.info.status for c in children} == {"FINISHED"}
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(int(c.data.tags["runner.job_num"]) for c in children) == list(
        range(n)
    )
    folder = Path(parent.data.tags["runner.sweep.dir"])
    assert {Path(c.data.tags["runner.output_dir"]).parent for c in children} == {folder}
    assert parent.data.metrics["sweep/jobs"] == n
    return parent, children


@plugin("hydra_joblib_launcher", "joblib")
@pytest.mark.slow
def test_joblib_logs_8_jobs_on_2_workers_into_a_fresh_store(
    run_cli: RunCli, store: Store
) -> None:
    assert not Path(store.uri.removeprefix("sqlite:///")).exists()
    proc = run_cli(
        "-m",
        "hydra/launcher=local",
        "model=logreg",
        "model.C=0.01,0.1,1,10",
        "seed=0,1",
        *FAST,
    )
    parent, children = check_sweep(store, 8)

    assert "n_jobs=2" in proc.stdout
    pids = {c.data.tags["runner.pid"] for c in children}
    assert parent.data.tags["runner.pid"] not in pids
    assert 1 <= len(pids) <= 2
    expected = {(c, s) for c in ("0.01", "0.1", "1", "10") for s in ("0", "1")}
    found = {(c.data.params["model.C"], c.data.params["seed"]) for c in children}
    assert found == expected


@pytest.fixture
def ray_dirs(tmp_path: Path) -> Iterator[dict[str, str]]:
    """HOME and temp folders for Ray inside the test (short: Ray binds sockets)."""
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    home = tmp_path / "home"
    home.mkdir()
    try:
        yield {"HOME": str(home), "RAY_TMPDIR": str(temp), "TMPDIR": str(temp)}
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _processes_under(folder: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if folder in cmdline:
            found.append(cmdline)
    return found


@plugin("hydra_ray_launcher", "ray")
@pytest.mark.slow
def test_ray_launcher_on_a_local_instance(
    run_cli: RunCli,
    store: Store,
    ray_dirs: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in ray_dirs.items():
        monkeypatch.setenv(key, value)
    run_cli("-m", "hydra/launcher=ray_local", "model=dummy", "seed=0,1", *FAST)
    check_sweep(store, 2)

    # Ray kept to the test's folders, and its processes ended with the sweep.
    home = Path(ray_dirs["HOME"])
    assert (home / ".ray").is_dir()
    assert list(Path(ray_dirs["RAY_TMPDIR"]).glob("ray/session_*"))
    deadline = time.monotonic() + 30
    while _processes_under(ray_dirs["RAY_TMPDIR"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_under(ray_dirs["RAY_TMPDIR"]) == []


@plugin("hydra_submitit_launcher", "submitit")
@pytest.mark.slow
def test_submitit_local_mode(run_cli: RunCli, store: Store) -> None:
    run_cli("-m", "hydra/launcher=submitit_local", "model=dummy", "seed=0,1", *FAST)
    parent, _ = check_sweep(store, 2)
    assert parent.data.tags["runner.launcher"] == "LocalLauncher"


@plugin("hydra_submitit_launcher", "submitit")
def test_slurm_preset_composes() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from runner._cli import register
    from runner._paths import conf_dir

    register()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        try:
            cfg = compose(
                "config", overrides=["hydra/launcher=slurm"], return_hydra_config=True
            )
        finally:
            GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.timeout_min, launcher.cpus_per_task) == (60, 2)
    assert str(launcher.submitit_folder).endswith("/.submitit/%j")
