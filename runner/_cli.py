"""Command line of the runner: pre-flight checks, then Hydra's own main."""

from __future__ import annotations

import logging
import sys
from typing import Any

from runner._paths import PROCESS_UID, conf_dir, runner_home
from runner.errors import RunnerError

log = logging.getLogger("runner")


def register() -> None:
    """Register the schema and the resolvers the configs use (idempotent)."""
    from omegaconf import OmegaConf

    from runner import schema

    schema.register()
    if not OmegaConf.has_resolver("runner_home"):
        # Cached, so that a sweep's jobs composed in joblib, Ray or Submitit
        # workers (Hydra copies the launcher's resolver cache into each job's
        # config) resolve hydra.sweep.dir to the launcher's folder, not their own.
        OmegaConf.register_new_resolver(
            "runner_home", lambda: str(runner_home()), use_cache=True
        )
        OmegaConf.register_new_resolver(
            "runner_uid", lambda: PROCESS_UID, use_cache=True
        )
        # The project folder (where conf/ lives), for paths in shipped configs.
        OmegaConf.register_new_resolver(
            "runner_project", lambda: str(conf_dir().parent), use_cache=True
        )
    from runner._sweep import register_resolvers

    register_resolvers()
    from runner import _compose

    _compose.install()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    register()
    from runner._preflight import preflight

    try:
        preflight(argv)
        return _hydra_main(argv)
    except RunnerError as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 2


def _hydra_main(argv: list[str]) -> int:
    import hydra

    @hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
    def task(cfg: Any) -> float:
        from runner._sweep import run_task

        return run_task(cfg)

    from runner import _sweep

    sys.argv = [sys.argv[0], *argv]
    try:
        task()
    except RunnerError:
        return 2
    except BaseException as exc:
        _sweep.abort_sweep(exc)  # the parent run of a sweep that stopped early
        raise
    finally:
        _stop_idle_workers()
    result = _sweep.take_result()
    return 1 if result is not None and not result.ok else 0


def _stop_idle_workers() -> None:
    """Stop the joblib launcher's worker processes once the sweep is over.

    joblib keeps its workers for reuse until the interpreter exits, and then
    waits about 1 s for them, plus 1-2 s of ordinary interpreter teardown
    that :mod:`runner.__main__` skips only when no child process is left.
    """
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(loky, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)
