"""Sweeps: one MLflow parent run per sweep, a record per job, progress, a table.

Hydra runs the jobs of ``python -m runner -m ...`` through a launcher, in this
process (the basic launcher) or in others (joblib workers, Ray, SLURM through
Submitit).  :class:`SweepCallback` hooks into the launching process:

* ``on_multirun_start`` creates the store, the experiment and the parent run
  *before* any worker starts (several processes creating a fresh sqlite store
  at once crash in MLflow's schema setup), and hands the parent run id, the
  sweep id, the job count and the start time to every job through
  ``hydra.job.env_set``, which Hydra applies in whatever process runs the job;
* each job, through :func:`run_task`, opens its run as a child of the parent
  (``mlflow.parentRunId``), writes a small record ``runner_job.json`` into its
  output folder and logs the sweep's progress; a failed job is recorded and
  the sweep goes on;
* ``on_multirun_end`` reads the records and the child runs back, writes the
  summary onto the parent (jobs, failures, best child by the primary metric),
  ends it, and prints a table of the jobs.

The command line then exits non-zero when any job failed.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from runner.errors import ConfigError, RunnerError

log = logging.getLogger(__name__)

#: Environment variables that carry the sweep to its jobs.
ENV_PARENT = "RUNNER_PARENT_RUN_ID"
ENV_SWEEP = "RUNNER_SWEEP_ID"
ENV_JOBS = "RUNNER_SWEEP_JOBS"
ENV_START = "RUNNER_SWEEP_START"
#: File each job writes into its output folder.
JOB_RECORD = "runner_job.json"
#: Config groups whose choices set other groups (conf/experiment, conf/sweep).
_PRESET_GROUPS = ("experiment", "sweep")
#: Folder of a sweep's per-job progress markers (``<num>.<status>``).
_PROGRESS = ".progress"
#: Packages whose versions every run records (``runner.versions`` tag).
VERSIONED = (
    "runner",
    "mlflow",
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "hydra-core",
    "omegaconf",
    "skops",
)


@dataclass
class JobRecord:
    """What one job of a sweep did, as its own process saw it."""

    num: int
    name: str
    status: str
    run_id: str | None = None
    primary: str | None = None
    value: float | None = None
    error: str | None = None
    seconds: float = 0.0
    overrides: list[str] = field(default_factory=list)


@dataclass
class SweepResult:
    """Outcome of a finished sweep, for the command line's exit status."""

    parent_run_id: str
    jobs: list[JobRecord]
    expected: int | None

    @property
    def failed(self) -> list[JobRecord]:
        return [j for j in self.jobs if j.status != "FINISHED"]

    @property
    def ok(self) -> bool:
        missing = (self.expected or 0) - len(self.jobs)
        return not self.failed and missing <= 0


@dataclass
class _Sweep:
    """The launching process's view of the running sweep."""

    client: Any
    uri: str
    experiment_id: str
    parent_run_id: str
    sweep_id: str
    sweep_dir: Path
    expected: int | None
    started: float
    name: str
    previous_sigterm: Any = None


_ACTIVE: _Sweep | None = None
_LAST: SweepResult | None = None


# --------------------------------------------------------------------------
# Resolvers and version tags (used by every job, swept or not)


def register_resolvers() -> None:
    """Register ``${runner_direction:<metric>}`` (idempotent).

    Sweeper configs take the optimisation direction from the metric registry,
    e.g. ``direction: ${runner_direction:${metrics.primary}}``.
    """
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("runner_direction"):
        OmegaConf.register_new_resolver("runner_direction", direction_of)


def direction_of(metric: Any) -> str:
    """``"maximize"`` or ``"minimize"`` for a metric name of the registry.

    Raises
    ------
    ConfigError
        If the metric is unset, unknown or has no direction.
    """
    from runner.errors import did_you_mean
    from runner.metrics import REGISTRY

    if metric is None:
        raise ConfigError(
            "a sweeper's direction comes from metrics.primary, which is null "
            "(the task's default). Name the metric the sweep optimises, e.g. "
            "metrics.primary=f1 (binary), f1_macro or rmse (regression)."
        )
    definition = REGISTRY.get(str(metric))
    if definition is None or definition.direction == "none":
        names = [k for k, d in REGISTRY.items() if d.direction != "none"]
        raise ConfigError(
            f"metrics.primary={metric!r} cannot be optimised: it is not a metric "
            f"with a direction.{did_you_mean(str(metric), names)} Choose one of "
            f"{sorted(names)}."
        )
    return str(definition.direction)


@cache
def versions() -> str:
    """JSON of the Python and key package versions (cached per process)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return json.dumps(found, sort_keys=True)


def job_tags() -> dict[str, str]:
    """Tags a run adds for its sweep (parent, sweep id) and its package versions."""
    tags = {"runner.versions": versions()}
    parent = os.environ.get(ENV_PARENT)
    if parent:
        tags["mlflow.parentRunId"] = parent
    sweep = os.environ.get(ENV_SWEEP)
    if sweep:
        tags["runner.sweep_id"] = sweep
    return tags


# --------------------------------------------------------------------------
# The task function, run once per job in the process that runs the job


def run_task(cfg: Any) -> float:
    """Hydra's task function: one job; in a sweep, failures are recorded.

    A single run raises on failure as before.  A job of a sweep returns NaN
    instead, after recording why in its ``runner_job.json``, so the other jobs
    run on; :class:`SweepCallback` then lists it and the command exits 1.
    """
    from runner._job import JobContext, run_job

    context = JobContext.from_hydra()
    if context.job_num is None:
        try:
            return run_job(cfg, context)
        except RunnerError as exc:
            log.error("%s", exc)
            raise
    start = time.perf_counter()
    record = JobRecord(
        num=context.job_num,
        name=" ".join(context.overrides) or "defaults",
        status="FINISHED",
        overrides=list(context.overrides),
    )
    value = math.nan
    try:
        value = run_job(cfg, context)
    except Exception as exc:
        record.status = "FAILED"
        record.error = f"{type(exc).__name__}: {exc}".strip()[:2000]
        log.error("Job %d failed: %s", context.job_num, record.error)
    record.run_id = context.run_id
    record.name = context.run_name or record.name
    record.primary = context.primary
    record.value = None if math.isnan(value) else value
    record.seconds = time.perf_counter() - start
    _write_record(context.output_dir, record)
    _log_progress(context.output_dir, record)
    return value


def _write_record(output_dir: Path, record: JobRecord) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    tmp = output_dir / f".{JOB_RECORD}.tmp"
    tmp.write_text(json.dumps(asdict(record), default=str))
    tmp.replace(output_dir / JOB_RECORD)


def _log_progress(output_dir: Path, record: JobRecord) -> None:
    """Log "job k of n done" with the failures so far, across processes.

    Each finished job leaves an empty marker file named after its number and
    status in the sweep folder's ``.progress``: the count is one directory
    listing, whatever the number of jobs (reading every job's record would
    make a sweep of n jobs read n² files).
    """
    from hydra.core.hydra_config import HydraConfig

    try:
        sweep_dir = Path(HydraConfig.get().sweep.dir)
    except ValueError:  # not inside a Hydra job
        sweep_dir = output_dir.parent
    markers = sweep_dir / _PROGRESS
    markers.mkdir(parents=True, exist_ok=True)
    (markers / f"{record.num}.{record.status}").touch()
    done = [name.partition(".")[2] for name in os.listdir(markers)]
    failed = sum(status != "FINISHED" for status in done)
    expected = int(os.environ.get(ENV_JOBS, "0") or 0)
    started = float(os.environ.get(ENV_START, "0") or 0)
    elapsed = time.time() - started if started else record.seconds
    of = f" of {expected}" if expected else ""
    shown = "" if record.value is None else f" {record.primary}={record.value:.4g}"
    log.info(
        "Sweep: job %d%s done (#%d %s %s%s), %s elapsed, %d failed so far",
        len(done),
        of,
        record.num,
        record.name,
        record.status,
        shown,
        _duration(elapsed),
        failed,
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def read_records(sweep_dir: Path) -> list[JobRecord]:
    """Job records under a sweep folder, by job number."""
    records = []
    for path in sweep_dir.rglob(JOB_RECORD):
        try:
            records.append(JobRecord(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            log.warning("Unreadable job record %s", path)
    return sorted(records, key=lambda r: r.num)


# --------------------------------------------------------------------------
# The callback, run in the launching process


class SweepCallback(Callback):
    """Hydra callback: parent run, store set-up and final table of a sweep.

    Configured in ``conf/config.yaml`` under ``hydra.callbacks``.
    """

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        _refuse_used_folder(Path(str(config.hydra.run.dir)), "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        # Hydra turns a callback's exception into a warning and goes on; jobs
        # would then run without their parent run, so stop the sweep instead.
        try:
            start_sweep(config)
        except Exception as exc:
            print(
                f"runner: error: cannot start the sweep: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            raise SystemExit(1) from exc

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        try:
            finish_sweep()
        except Exception as exc:
            print(
                f"runner: error: cannot summarise the sweep: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            raise SystemExit(1) from exc


def _refuse_used_folder(folder: Path, key: str) -> None:
    """Stop (exit 2) before a run writes into a folder another run used."""
    used = (folder / ".hydra").exists() or (folder / "multirun.yaml").exists()
    if folder.is_dir() and not used:
        used = any(p.is_dir() and (p / ".hydra").exists() for p in folder.iterdir())
    if used:
        print(
            f"runner: error: the output folder {str(folder)!r} ({key}) already "
            "holds another run's files, which this run would overwrite. Leave "
            f"{key} at its default (unique per run), or set {key}=<an empty "
            "folder>.",
            file=sys.stderr,
        )
        raise SystemExit(2)


def start_sweep(config: Any) -> None:
    """Create store, experiment and parent run; pass them on to the jobs."""
    global _ACTIVE, _LAST
    from runner import tracking

    sweep_dir = Path(str(config.hydra.sweep.dir))
    _refuse_used_folder(sweep_dir, "hydra.sweep.dir")
    uri = tracking.tracking_uri(config.tracking.uri)
    client = tracking.client_for(uri)
    experiment_id = tracking.ensure_experiment(client, config.tracking.experiment, uri)
    tracking.close_stale_runs(client, experiment_id)
    expected = count_jobs(config)
    sweep_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    name = sweep_name(config)
    tags = {
        **tracking.base_tags(),
        "runner.versions": versions(),
        "runner.role": "sweep",
        "runner.sweep_id": sweep_id,
        "runner.sweep.dir": str(sweep_dir),
        "runner.sweep.jobs": str(expected if expected is not None else "unknown"),
        "runner.sweeper": str(config.hydra.sweeper._target_).rsplit(".", 1)[-1],
        "runner.launcher": str(config.hydra.launcher._target_).rsplit(".", 1)[-1],
        "runner.overrides": " ".join(_task_overrides(config)),
    }
    direction = config.hydra.sweeper.get("direction")
    if direction is not None:
        tags["runner.sweep.direction"] = str(direction)
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    started = time.time()
    _pass_to_jobs(
        config,
        {
            ENV_PARENT: run.info.run_id,
            ENV_SWEEP: sweep_id,
            ENV_JOBS: str(expected or 0),
            ENV_START: f"{started:.3f}",
        },
    )
    _LAST = None
    _ACTIVE = _Sweep(
        client,
        uri,
        experiment_id,
        run.info.run_id,
        sweep_id,
        sweep_dir,
        expected,
        started,
        name,
    )
    _ACTIVE.previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
    of = f"{expected} jobs" if expected is not None else "jobs"
    log.info(
        "Sweep %s: %s, parent run %s <name=%s>", sweep_id, of, run.info.run_id, name
    )


class _SweepTerminated(BaseException):
    """SIGTERM reached the launching process."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _SweepTerminated(signal.Signals(signum).name)


def _task_overrides(config: Any) -> list[str]:
    return [str(o) for o in config.hydra.overrides.task]


def _pass_to_jobs(config: Any, env: dict[str, str]) -> None:
    """Add ``hydra.job.env_set`` overrides that every job's config will carry.

    Launchers compose each job's config from the sweep's ``hydra.overrides.hydra``
    list, in whatever process runs the job, and Hydra exports ``env_set``
    there; so the values reach joblib, Ray and SLURM jobs alike.
    """
    from omegaconf import open_dict, read_write

    with read_write(config.hydra), open_dict(config.hydra):
        for key, value in env.items():
            config.hydra.overrides.hydra.append(f"++hydra.job.env_set.{key}={value}")


def _sweep_args(config: Any) -> list[str]:
    params = config.hydra.sweeper.get("params") or {}
    return [f"{k}={v}" for k, v in params.items()] + _task_overrides(config)


def count_jobs(config: Any) -> int | None:
    """Number of jobs the sweeper will launch, when it is known up front."""
    target = str(config.hydra.sweeper._target_)
    if "optuna" in target.lower():
        return int(config.hydra.sweeper.n_trials)
    if not target.endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(_sweep_args(config))
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception:  # e.g. glob() choices need the config loader
        return None
    return sum(len(batch) for batch in batches)


def sweep_name(config: Any) -> str:
    """Name of the parent run: ``sweep-<model>-<data>`` then what varies."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import IntervalSweep

    from runner._naming import short_value

    choices = config.hydra.runtime.choices
    parsed = OverridesParser.create().parse_overrides(_sweep_args(config))
    swept = {o.key_or_group.lstrip("+~"): o for o in parsed if o.is_sweep_override()}
    parts = ["sweep"]
    # A swept preset (experiment=a,b) sets the model and data of each job:
    # the launching config's own choices would name neither.
    labelled = not any(group in swept for group in _PRESET_GROUPS)
    for group in ("model", "dataset"):
        if labelled and group not in swept and choices.get(group):
            parts.append(str(choices[group]))
    for key, override in swept.items():
        value = override.value()
        if isinstance(value, IntervalSweep):  # Optuna's interval(a, b)
            values = f"{short_value(value.start)}..{short_value(value.end)}"
        else:
            values = ",".join(
                short_value(_typed(v)) for v in override.sweep_string_iterator()
            )
        parts.append(f"{key.rsplit('.', 1)[-1]}={values}".replace(" ", ""))
    name = "-".join(parts).replace("/", "_")
    if len(name) > 100:
        import hashlib

        name = f"{name[:93]}~{hashlib.sha256(name.encode()).hexdigest()[:6]}"
    return name


def _typed(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def finish_sweep() -> SweepResult | None:
    """Summarise the active sweep on its parent run, end it, print the table."""
    global _ACTIVE, _LAST
    sweep = _ACTIVE
    if sweep is None:
        return None
    _ACTIVE = None
    signal.signal(signal.SIGTERM, sweep.previous_sigterm or signal.SIG_DFL)
    from runner import tracking

    tracking.close_stale_runs(sweep.client, sweep.experiment_id)
    records = _merge_children(sweep, read_records(sweep.sweep_dir))
    result = SweepResult(sweep.parent_run_id, records, sweep.expected)
    best = best_job(records)
    _log_summary(sweep, result, best)
    status = "FINISHED" if result.ok else "FAILED"
    sweep.client.set_terminated(sweep.parent_run_id, status=status)
    _print_table(sweep, result, best)
    _LAST = result
    return result


def abort_sweep(exc: BaseException) -> None:
    """End the active sweep's parent after the sweep itself raised."""
    global _ACTIVE
    sweep = _ACTIVE
    if sweep is None:
        return
    killed = isinstance(exc, KeyboardInterrupt | _SweepTerminated) or (
        type(exc).__name__ == "_Terminated"
    )
    try:
        finish_sweep()
    finally:
        _ACTIVE = None
    client = sweep.client
    client.set_tag(
        sweep.parent_run_id,
        "runner.error",
        f"sweep stopped: {type(exc).__name__}: {exc}"[:5000],
    )
    client.set_terminated(sweep.parent_run_id, status="KILLED" if killed else "FAILED")


def take_result() -> SweepResult | None:
    """Result of the sweep this process finished last, if any (then forgotten)."""
    global _LAST
    result, _LAST = _LAST, None
    return result


def _merge_children(sweep: _Sweep, records: list[JobRecord]) -> list[JobRecord]:
    """Job records completed with what the store says of each child run."""
    children = sweep.client.search_runs(
        [sweep.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{sweep.parent_run_id}'",
        max_results=50000,
    )
    by_id = {run.info.run_id: run for run in children}
    seen = set()
    for record in records:
        run = by_id.get(record.run_id or "")
        if run is None:
            continue
        seen.add(run.info.run_id)
        if run.info.status != "FINISHED":
            record.status = run.info.status
            record.error = record.error or run.data.tags.get("runner.error")
    for run_id, run in by_id.items():
        if run_id in seen:
            continue
        tags = run.data.tags
        primary = tags.get("runner.primary_metric")
        value = run.data.metrics.get(f"val/{primary}")
        num = int(tags.get("runner.job_num", "-1"))
        records.append(
            JobRecord(
                num=num,
                name=run.info.run_name,
                status=run.info.status,
                run_id=run_id,
                primary=primary,
                value=value,
                error=tags.get("runner.error") or "the job wrote no record",
            )
        )
    return sorted(records, key=lambda r: r.num)


def best_job(records: list[JobRecord]) -> JobRecord | None:
    """Best finished job by the primary metric most jobs share."""
    finished = [r for r in records if r.status == "FINISHED" and r.value is not None]
    if not finished:
        return None
    primary = Counter(r.primary for r in finished).most_common(1)[0][0]
    ranked = [
        r
        for r in finished
        if r.primary == primary and r.value is not None and math.isfinite(r.value)
    ]
    if not ranked:
        return None
    try:
        sign = 1.0 if direction_of(primary) == "maximize" else -1.0
    except ConfigError:
        return None
    return max(ranked, key=lambda r: sign * float(r.value or 0.0))


def _log_summary(sweep: _Sweep, result: SweepResult, best: JobRecord | None) -> None:
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    values = {
        "sweep/jobs": float(max(len(result.jobs), result.expected or 0)),
        "sweep/finished": float(len(result.jobs) - len(result.failed)),
        "sweep/failed": float(len(result.failed)),
        "sweep/seconds": time.time() - sweep.started,
    }
    tags = {"runner.sweep.failed_jobs": ",".join(str(j.num) for j in result.failed)}
    if best is not None and best.value is not None:
        values[f"best/val/{best.primary}"] = best.value
        tags.update(
            {
                "runner.primary_metric": str(best.primary),
                "runner.sweep.best_run_id": str(best.run_id),
                "runner.sweep.best_run_name": best.name,
                "runner.sweep.best_job": str(best.num),
            }
        )
    if result.failed:
        reasons = "; ".join(f"#{j.num} {j.name}: {j.error}" for j in result.failed)
        tags["runner.error"] = f"{len(result.failed)} job(s) failed: {reasons}"[:5000]
    metrics = [Metric(k, v, now, 0) for k, v in values.items()]
    sweep.client.log_batch(
        sweep.parent_run_id,
        metrics=metrics,
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    path = sweep.sweep_dir / "sweep_jobs.csv"
    sweep.sweep_dir.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["job", "name", "status", "primary", "value", "run_id", "seconds", "error"]
        )
        for j in result.jobs:
            writer.writerow(
                [
                    j.num,
                    j.name,
                    j.status,
                    j.primary,
                    j.value,
                    j.run_id,
                    f"{j.seconds:.2f}",
                    j.error or "",
                ]
            )
    sweep.client.log_artifact(sweep.parent_run_id, str(path))


def _print_table(sweep: _Sweep, result: SweepResult, best: JobRecord | None) -> None:
    primary = (
        best.primary
        if best
        else next((j.primary for j in result.jobs if j.primary), "primary")
    )
    width = max([len(j.name) for j in result.jobs] + [4])
    print(
        f"sweep    {sweep.name}  ({len(result.jobs)} jobs, parent run "
        f"{sweep.parent_run_id})"
    )
    print(f"  {'job':>3}  {'name':<{width}}  {'status':<8}  val/{primary}")
    for j in result.jobs:
        value = "-" if j.value is None else f"{j.value:.4f}"
        print(f"  {j.num:>3}  {j.name:<{width}}  {j.status:<8}  {value}")
    if best is not None and best.value is not None:
        print(
            f"best     #{best.num} {best.name}  val/{best.primary}="
            f"{best.value:.4f}  run {best.run_id}"
        )
    missing = (result.expected or 0) - len(result.jobs)
    if missing > 0:
        print(
            f"missing  {missing} of {result.expected} jobs left no record",
            file=sys.stderr,
        )
    if result.failed:
        print(
            f"failed   {len(result.failed)} of {len(result.jobs)} jobs:",
            file=sys.stderr,
        )
        for j in result.failed:
            print(f"  #{j.num} {j.name}: {j.error or j.status}", file=sys.stderr)


def _register_all() -> None:
    from runner._cli import register

    register()


# Jobs run in joblib, Ray or Submitit workers compose their configs there, with
# the runner's resolvers; this module is imported with the unpickled callback,
# before that composition.
_register_all()
