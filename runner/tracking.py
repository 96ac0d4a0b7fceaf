"""MLflow side of a run: the store, the experiment, params, tags and status.

The runner talks to MLflow through :class:`mlflow.MlflowClient` with batched
writes (one ``log_batch`` for params, one for metrics), so that a run costs a
handful of store round trips whatever the size of the config.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from runner._paths import PACKAGE_DIR, default_tracking_uri

log = logging.getLogger(__name__)

# Longest param value written as is; longer ones are summarised (MLflow would
# otherwise truncate them silently at 6000 characters).
_MAX_PARAM_CHARS = 500


def tracking_uri(configured: str | None) -> str:
    """The store's URI: the configured one, or the project's sqlite file.

    A relative sqlite path is made absolute so runs started from any folder
    land in the same store, and the file's folder is created.
    """
    uri = configured or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        if not path.is_absolute():
            path = Path.cwd() / path
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{path.resolve()}"
    return uri


def artifact_root(uri: str, experiment: str) -> str | None:
    """Artifact folder beside a sqlite store (MLflow's default is the cwd)."""
    if not uri.startswith("sqlite:///"):
        return None
    folder = Path(uri[len("sqlite:///") :]).parent / "artifacts"
    safe = hashlib.sha256(experiment.encode()).hexdigest()[:8]
    return (folder / safe).as_uri()


def client_for(uri: str) -> Any:
    """An MlflowClient on ``uri`` (imports MLflow on first use)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    # The client opens the store at once; on a fresh sqlite file that creates
    # the schema, which only one process may do at a time.
    with store_lock(uri):
        _create_sqlite_file(uri)
        return MlflowClient(tracking_uri=uri)


def _create_sqlite_file(uri: str) -> None:
    """Create a missing sqlite store file in write-ahead-log (WAL) mode.

    In WAL mode a commit appends to a log instead of rewriting pages through a
    rollback journal: about 15 ms less per run here (a run commits about ten
    times), and readers (the MLflow UI, a compare) no longer block the writer.
    The mode is stored in the file.  Files that exist keep the mode they have,
    and WAL needs a local disk, not a network file system.
    """
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri[len("sqlite:///") :])
    if path.exists():
        return
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


# Experiment ids this process has found or created, by (store, name): every
# job of an in-process sweep logs to the same one.
_EXPERIMENTS: dict[tuple[str, str], str] = {}


def ensure_experiment(client: Any, name: str, uri: str) -> str:
    """Id of experiment ``name``, created if missing (race-safe)."""
    key = (uri, name)
    if key not in _EXPERIMENTS:
        _EXPERIMENTS[key] = _find_or_create_experiment(client, name, uri)
    return _EXPERIMENTS[key]


def _find_or_create_experiment(client: Any, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(
            client.create_experiment(
                name,
                artifact_location=artifact_root(uri, name),
                tags={"mlflow.experimentKind": "custom_model_development"},
            )
        )
    except Exception:
        # Another process created it between our lookup and our create.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def log_artifacts(client: Any, artifact_uri: str, folder: Path) -> None:
    """Copy ``folder``'s files to a run's artifact location.

    The same as ``client.log_artifacts(run_id, folder)`` for a run created by
    this process, without that method's look-up of the run (a store round
    trip) to learn the artifact URI ``create_run`` already returned.
    """
    from mlflow.store.artifact.artifact_repository_registry import (
        get_artifact_repository,
    )

    repo = get_artifact_repository(artifact_uri, tracking_uri=client.tracking_uri)
    repo.log_artifacts(str(folder))


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive file lock beside a sqlite store (no-op for others).

    Opening a fresh sqlite file creates MLflow's schema, and several processes
    doing that at once corrupt it (CASES C17); whoever opens a store holds
    this lock while doing so.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    lock_path = Path(uri[len("sqlite:///") :] + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# (store, experiment) pairs already searched for stale runs by this process.
_CLOSED_STALE: set[tuple[str, str]] = set()


def close_stale_runs(client: Any, experiment_id: str, once: bool = False) -> int:
    """Mark runs left RUNNING by dead runner processes on this host KILLED.

    With ``once``, only the first call per store and experiment in this process
    searches (runs of dead processes are found by the next process anyway).
    """
    key = (str(getattr(client, "tracking_uri", "")), experiment_id)
    if once and key in _CLOSED_STALE:
        return 0
    _CLOSED_STALE.add(key)
    host = socket.gethostname()
    stale = client.search_runs(
        [experiment_id],
        filter_string=(
            f"attributes.status = 'RUNNING' and tags.`runner.host` = '{host}'"
        ),
        max_results=200,
    )
    closed = 0
    for run in stale:
        pid = int(run.data.tags.get("runner.pid", "0") or 0)
        if pid and not _alive(pid):
            client.set_tag(run.info.run_id, "runner.error", f"process {pid} died")
            client.set_terminated(run.info.run_id, status="KILLED")
            log.warning(
                "Closed run %s left RUNNING by dead process %d", run.info.run_id, pid
            )
            closed += 1
    return closed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys; lists stay values."""
    out: dict[str, Any] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    out[prefix[:-1]] = node
    return out


def param_values(config: dict[str, Any]) -> dict[str, str]:
    """Params of a run: the resolved config, flattened, each value as text.

    Values too long for MLflow become a summary (item count and sha256) under
    the same key, marked ``<summarised ...>``; the whole config is logged as
    the ``config.yaml`` artifact anyway.
    """
    params = {}
    for key, value in flatten(config).items():
        text = json.dumps(value) if isinstance(value, list | dict) else str(value)
        if len(text) > _MAX_PARAM_CHARS:
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            count = len(value) if isinstance(value, list | dict) else len(text)
            text = f"<summarised: {count} items, sha256 {digest}>"
        params[key] = text
    return params


def config_hash(config: dict[str, Any]) -> str:
    """sha256 (16 hex digits) of the resolved config, key order independent."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@cache
def git_commit() -> tuple[str, bool]:
    """Commit of the runner's own code and whether the work tree is dirty.

    Cached per process: the code a process runs is the code it imported.
    """
    root = PACKAGE_DIR.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown", False
    return commit, bool(dirty)


def base_tags() -> dict[str, str]:
    """Tags every run carries: code version, process and host."""
    from runner import __version__

    commit, dirty = git_commit()
    return {
        "runner.git_commit": commit,
        "runner.git_dirty": str(dirty).lower(),
        "mlflow.source.git.commit": commit,
        "runner.version": __version__,
        "runner.pid": str(os.getpid()),
        "runner.host": socket.gethostname(),
    }
