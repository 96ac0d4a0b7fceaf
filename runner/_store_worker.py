"""MLflow in a helper process, so its start-up overlaps the job's own work.

Importing MLflow and opening a sqlite store take about 3 s here, as long as
loading the data and fitting a small model.  ``python -m runner`` therefore
starts this worker first thing: it imports MLflow and opens the store on the
other core while the main process checks the config, loads the data and
fits.  The main process then talks to it through :class:`StoreClient`, which
forwards :class:`mlflow.MlflowClient` method calls over a pipe (pickled
arguments and results, exceptions re-raised in the caller).

If the main process dies, the worker reads end-of-file and ends every run it
created and did not see terminated as ``KILLED``, so even SIGKILL leaves no
run ``RUNNING``.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import Any, BinaryIO

_WORKER: StoreClient | None = None


class StoreClient:
    """Proxy of an ``MlflowClient`` living in the worker process."""

    def __init__(self) -> None:
        env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "runner._store_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.tracking_uri: str | None = None

    def open(self, uri: str) -> None:
        """Point the worker at ``uri`` and let it open the store right away."""
        if self.tracking_uri is None:
            self.tracking_uri = uri
            self._send(("open", (uri,), {}))

    def _send(self, message: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
        assert self._proc.stdin is not None
        pickle.dump(message, self._proc.stdin)
        self._proc.stdin.flush()

    def _receive(self) -> Any:
        assert self._proc.stdout is not None
        try:
            ok, value = pickle.load(self._proc.stdout)
        except EOFError as exc:
            raise RuntimeError(
                "the MLflow worker process ended unexpectedly; see its error "
                "above. Run with RUNNER_STORE_WORKER=0 to log from the main "
                "process instead."
            ) from exc
        if not ok:
            raise value
        return value

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` of the worker's MlflowClient and return its result."""
        self._send((method, args, kwargs))
        return self._receive()

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self.call(method, *args, **kwargs)

    def close(self) -> None:
        """Stop the worker (it ends any run still open as KILLED)."""
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=60)


def start() -> StoreClient | None:
    """Start the process-wide worker (unless ``RUNNER_STORE_WORKER=0``)."""
    global _WORKER
    if os.environ.get("RUNNER_STORE_WORKER", "1") == "0":
        return None
    if _WORKER is None:
        _WORKER = StoreClient()
    return _WORKER


def worker_for(uri: str) -> StoreClient | None:
    """The running worker if it serves ``uri``; ``None`` otherwise."""
    if _WORKER is not None and _WORKER.tracking_uri == uri:
        return _WORKER
    return None


def stop() -> None:
    """Stop the process-wide worker, if any."""
    global _WORKER
    if _WORKER is not None:
        _WORKER.close()
        _WORKER = None


# ---------------------------------------------------------------------------
# The worker side


def _serve(inbox: BinaryIO, outbox: BinaryIO) -> None:
    from mlflow import MlflowClient

    client: Any = None
    uri = ""
    failed_open: Exception | None = None
    open_runs: set[str] = set()
    while True:
        try:
            method, args, kwargs = pickle.load(inbox)
        except EOFError:
            break
        if method == "open":
            # No reply: the caller does not wait.  A failure is raised by the
            # next call instead.  A sqlite file that does not exist yet is
            # created only by the first real call, so that a command failing
            # its checks leaves no store behind.
            uri = args[0]
            if not _missing_sqlite(uri):
                try:
                    client = _open_store(MlflowClient, uri)
                except Exception as exc:
                    failed_open = exc
            continue
        try:
            if failed_open is not None:
                raise failed_open
            if client is None:
                client = _open_store(MlflowClient, uri)
            result = _dispatch(client, method, args, kwargs)
            _track(method, args, kwargs, result, open_runs)
            reply: tuple[bool, Any] = (True, result)
        except Exception as exc:  # returned to the caller, raised there
            reply = (False, exc)
        pickle.dump(reply, outbox)
        outbox.flush()
    for run_id in open_runs:
        assert client is not None
        client.set_tag(run_id, "runner.error", "the runner process ended early")
        client.set_terminated(run_id, status="KILLED")


def _missing_sqlite(uri: str) -> bool:
    return uri.startswith("sqlite:///") and not os.path.exists(uri[10:])


def _open_store(factory: Any, uri: str) -> Any:
    from runner.tracking import store_lock

    # Opening a fresh sqlite file creates its schema: one process at a time.
    with store_lock(uri):
        client = factory(tracking_uri=uri)
        client.search_experiments(max_results=1)
    return client


def _dispatch(
    client: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if method == "log_sklearn_model":
        return _log_sklearn_model(client, *args, **kwargs)
    return getattr(client, method)(*args, **kwargs)


def _track(
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    result: Any,
    open_runs: set[str],
) -> None:
    if method == "create_run":
        open_runs.add(result.info.run_id)
    elif method == "set_terminated":
        open_runs.discard(args[0] if args else kwargs.get("run_id"))


def _log_sklearn_model(
    client: Any, run_id: str, path: str, requirements: list[str]
) -> None:
    """Log the pickled pipeline at ``path`` (our own file) as an MLflow model."""
    import mlflow
    import mlflow.sklearn
    import skops.io as sio

    with open(path, "rb") as fh:
        pipe = pickle.load(fh)
    trusted = sio.get_untrusted_types(data=sio.dumps(pipe))
    mlflow.set_tracking_uri(client.tracking_uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.sklearn.log_model(
            pipe,
            name="model",
            serialization_format="skops",
            skops_trusted_types=trusted,
            pip_requirements=requirements,
        )


def main() -> None:
    # Replies go to the original stdout; anything MLflow prints goes to stderr.
    outbox = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(sys.stdin.buffer, outbox)


if __name__ == "__main__":
    main()
