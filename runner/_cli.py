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
        OmegaConf.register_new_resolver("runner_home", lambda: str(runner_home()))
        OmegaConf.register_new_resolver("runner_uid", lambda: PROCESS_UID)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    register()
    from runner._preflight import preflight

    try:
        preflight(argv)
    except RunnerError as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 2
    return _hydra_main(argv)


def _hydra_main(argv: list[str]) -> int:
    import hydra

    @hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
    def task(cfg: Any) -> float:
        from runner._job import run_job

        try:
            return run_job(cfg)
        except RunnerError as exc:
            log.error("%s", exc)
            raise

    sys.argv = [sys.argv[0], *argv]
    try:
        task()
    except RunnerError:
        return 2
    return 0
