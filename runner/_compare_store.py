"""Reading runs for comparison: only the columns a comparison needs, in pages.

``MlflowClient.search_runs`` builds a full ORM object for every param, tag and
metric of every run; on a local sqlite store that is about 3.8 s for 1,000
runner runs, almost all of it object construction.  A comparison needs a dozen
metrics and the ``runner.*`` / ``diagnostic.*`` tags, so for ``sqlite:///``
stores :func:`fetch_runs` reads exactly those rows with plain SQL, a page of
run ids at a time (about 0.05 s for the same 1,000 runs).  Any other store
(an MLflow server, PostgreSQL, ...) goes through ``MlflowClient.search_runs``
with paging, and so does a sqlite file whose tables do not look like the
schema this module was written against.

A user's MLflow filter string is applied with MLflow's own parser and matcher
(``SearchUtils``) on both routes, so its meaning does not depend on the route.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, did_you_mean

log = logging.getLogger(__name__)

#: Tags read for every run: the runner's own and the diagnostics' flags.
TAG_PREFIXES = ("runner.", "diagnostic.")
#: Run ids per SQL query; sqlite accepts 32,766 bound parameters.
PAGE_SIZE = 500
#: Tag of a sweep's parent run (it trains nothing).
_PARENT_TAG = ("runner.role", "sweep")
_STATUSES = ("FINISHED", "FAILED", "KILLED", "RUNNING", "SCHEDULED")
# Columns this module reads; checked before use so that a future MLflow schema
# falls back to the client instead of failing or reading the wrong thing.
_SCHEMA = {
    "runs": {
        "run_uuid",
        "name",
        "status",
        "start_time",
        "lifecycle_stage",
        "artifact_uri",
        "experiment_id",
    },
    "latest_metrics": {"key", "value", "is_nan", "run_uuid"},
    "tags": {"key", "value", "run_uuid"},
    "params": {"key", "value", "run_uuid"},
    "experiments": {"experiment_id", "name", "lifecycle_stage"},
}


@dataclass(frozen=True)
class RunRecord:
    """The part of one MLflow run that a comparison reads.

    Parameters
    ----------
    run_id : str
        MLflow run id.
    name : str
        Run name.
    experiment_id : str
        Id of the run's experiment.
    status : str
        ``FINISHED``, ``FAILED``, ...
    start_time : int
        Start time in milliseconds since the epoch.
    metrics : mapping of str to float
        Latest value of each requested metric the run logged (nan when the
        logged value is nan); keys the run did not log are absent.
    tags : mapping of str to str
        The run's ``runner.*`` and ``diagnostic.*`` tags.
    artifact_uri : str or None
        Root of the run's artifacts.
    """

    run_id: str
    name: str
    experiment_id: str
    status: str
    start_time: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    artifact_uri: str | None = None

    def metric(self, key: str) -> float:
        """Value of metric ``key``, nan when the run did not log it."""
        return self.metrics.get(key, math.nan)


@dataclass(frozen=True)
class RunQuery:
    """Which runs to read.

    Parameters
    ----------
    experiments : sequence of str, default=("runner",)
        Experiment names.
    sweep_id : str or None, default=None
        Keep the runs tagged ``runner.sweep_id`` with this value.
    tags : mapping of str to str, default={}
        Keep the runs whose tag ``key`` equals ``value``, for every pair.
    filter_string : str or None, default=None
        An MLflow search filter, e.g. ``"metrics.`val/f1` > 0.8"``.
    statuses : sequence of str, default=("FINISHED",)
        Run statuses to keep; empty keeps every status.
    run_ids : sequence of str, default=()
        Keep only these runs; empty keeps all.
    include_parents : bool, default=False
        Keep sweep parent runs (tag ``runner.role=sweep``), which train
        nothing and log no metrics of their own.
    """

    experiments: Sequence[str] = ("runner",)
    sweep_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    filter_string: str | None = None
    statuses: Sequence[str] = ("FINISHED",)
    run_ids: Sequence[str] = ()
    include_parents: bool = False

    def tag_equalities(self) -> dict[str, str]:
        """Every tag the runs must carry, the sweep id included."""
        wanted = dict(self.tags)
        if self.sweep_id is not None:
            wanted["runner.sweep_id"] = self.sweep_id
        return wanted


@dataclass
class RunSet:
    """Runs read from a store, and what they logged.

    Parameters
    ----------
    records : list of RunRecord
        The runs, oldest first.
    logged_keys : set of str
        Every metric key any of the runs logged (not only the requested
        ones), for close-match suggestions.
    experiment_ids : dict of str to str
        Experiment name to id.
    route : {"sql", "client"}
        How the runs were read.
    """

    records: list[RunRecord]
    logged_keys: set[str]
    experiment_ids: dict[str, str]
    route: str


def fetch_runs(
    uri: str,
    query: RunQuery,
    metric_keys: Collection[str],
    *,
    route: str = "auto",
    page_size: int = PAGE_SIZE,
) -> RunSet:
    """Read the runs ``query`` selects, with only the metrics in ``metric_keys``.

    Parameters
    ----------
    uri : str
        Tracking URI of the store.
    query : RunQuery
        Which runs.
    metric_keys : collection of str
        Metric keys to read, e.g. ``{"val/f1", "test/f1"}``.
    route : {"auto", "sql", "client"}, default="auto"
        ``sql`` reads a sqlite store directly, ``client`` goes through
        ``MlflowClient.search_runs``; ``auto`` picks ``sql`` when it can.
    page_size : int, default=500
        Runs per query.

    Returns
    -------
    RunSet
        The runs, oldest first, and every metric key they logged.

    Raises
    ------
    ConfigError
        If the store does not exist, an experiment name is unknown, a status
        is not an MLflow run status or the filter string does not parse.
    """
    _check_statuses(query.statuses)
    parsed = _parse_filter(query.filter_string)
    path = sqlite_path(uri)
    if route == "sql" or (route == "auto" and path is not None):
        if path is None:
            raise ValueError(f"route='sql' needs a sqlite:/// URI, got {uri!r}.")
        _check_store_file(path, uri)
        with closing(_connect(path)) as conn:
            if _schema_ok(conn) and not _needs_client(parsed):
                return _fetch_sql(conn, query, parsed, set(metric_keys), page_size)
            if route == "sql":
                raise ValueError("this sqlite store cannot be read by route='sql'.")
        log.info("Reading runs through MlflowClient <route=client>")
    return _fetch_client(uri, query, set(metric_keys), page_size)


def sqlite_path(uri: str) -> Path | None:
    """File of a ``sqlite:///`` URI, or None for any other store."""
    if not uri.startswith("sqlite:///"):
        return None
    # Relative to the current folder, as MLflow reads it.
    return Path(uri[len("sqlite:///") :]).absolute()


def _check_statuses(statuses: Iterable[str]) -> None:
    for status in statuses:
        if status not in _STATUSES:
            raise ConfigError(
                f"unknown run status {status!r}.{did_you_mean(status, _STATUSES)} "
                f"Use one of {', '.join(_STATUSES)}."
            )


def _check_store_file(path: Path, uri: str) -> None:
    if not path.is_file():
        raise ConfigError(
            f"no MLflow store at {uri}: the file {path} does not exist. Run "
            "`python -m runner` first, set RUNNER_HOME to the project that "
            "holds outputs/mlflow.db, or pass --tracking-uri."
        )


def _connect(path: Path) -> sqlite3.Connection:
    # Read-only: a comparison never writes, and never creates a missing file.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def _schema_ok(conn: sqlite3.Connection) -> bool:
    for table, columns in _SCHEMA.items():
        found = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not columns <= found:
            log.info("Table %s lacks %s; using the client", table, columns - found)
            return False
    return True


# --------------------------------------------------------------------------
# MLflow filter strings


@dataclass(frozen=True)
class _Filter:
    text: str
    clauses: list[dict[str, Any]]

    def keys(self, kind: str) -> set[str]:
        return {c["key"] for c in self.clauses if c["type"] == kind}


def _parse_filter(text: str | None) -> _Filter | None:
    if not text:
        return None
    from mlflow.exceptions import MlflowException
    from mlflow.utils.search_utils import SearchUtils

    try:
        clauses = SearchUtils.parse_search_filter(text)
    except MlflowException as exc:
        raise _filter_error(text, exc) from exc
    return _Filter(text, list(clauses))


def _filter_error(text: str, exc: Any) -> ConfigError:
    return ConfigError(
        f"the MLflow filter string {text!r} does not parse: {exc.message} Write "
        'AND-ed comparisons such as "metrics.`val/f1` > 0.8 and '
        "tags.`runner.choice.model` = 'rf'\"."
    )


def _needs_client(parsed: _Filter | None) -> bool:
    if parsed is None:
        return False
    kinds = {c["type"] for c in parsed.clauses}
    return not kinds <= {"metric", "parameter", "tag", "attribute"}


def _matches(parsed: _Filter | None, runs: list[Any]) -> set[str]:
    """Run ids of the light MLflow ``Run`` entities that match the filter."""
    if parsed is None:
        return {r.info.run_id for r in runs}
    from mlflow.exceptions import MlflowException
    from mlflow.utils.search_utils import SearchUtils

    try:
        return {r.info.run_id for r in SearchUtils.filter(runs, parsed.text)}
    except MlflowException as exc:
        # Comparators are checked only when a run is matched.
        raise _filter_error(parsed.text, exc) from exc


def _entity(
    record: RunRecord,
    metrics: Mapping[str, float],
    params: Mapping[str, str],
    tags: Mapping[str, str],
    lifecycle: str,
    end_time: int | None = None,
) -> Any:
    from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag

    info = RunInfo(
        run_id=record.run_id,
        experiment_id=record.experiment_id,
        user_id="",
        status=record.status,
        start_time=record.start_time,
        end_time=end_time,
        lifecycle_stage=lifecycle,
        artifact_uri=record.artifact_uri,
        run_name=record.name,
    )
    data = RunData(
        metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    return Run(info, data)


# --------------------------------------------------------------------------
# The sqlite route


def _fetch_sql(
    conn: sqlite3.Connection,
    query: RunQuery,
    parsed: _Filter | None,
    metric_keys: set[str],
    page_size: int,
) -> RunSet:
    experiments = _experiment_ids_sql(conn, query.experiments)
    ids = _run_rows_sql(conn, list(experiments.values()), query)
    filter_metrics = parsed.keys("metric") if parsed else set()
    filter_tags = parsed.keys("tag") if parsed else set()
    filter_params = parsed.keys("parameter") if parsed else set()
    records: list[RunRecord] = []
    logged: set[str] = set()
    for start in range(0, len(ids), page_size):
        page = ids[start : start + page_size]
        run_ids = [row[0] for row in page]
        metrics = _metrics_sql(conn, run_ids, metric_keys | filter_metrics)
        tags = _tags_sql(conn, run_ids, filter_tags)
        params = _params_sql(conn, run_ids, filter_params)
        page_records = [
            _record(row, metrics.get(row[0], {}), tags.get(row[0], {}), metric_keys)
            for row in page
        ]
        kept = _keep(page_records, query, parsed, metrics, tags, params)
        if kept:
            logged |= _logged_keys_sql(conn, [r.run_id for r in kept])
        records += kept
    log.info("Read %d runs from the sqlite store <route=sql>", len(records))
    return RunSet(records, logged, experiments, "sql")


def _experiment_ids_sql(
    conn: sqlite3.Connection, names: Sequence[str]
) -> dict[str, str]:
    rows = conn.execute(
        "SELECT name, experiment_id FROM experiments WHERE lifecycle_stage = 'active'"
    ).fetchall()
    known = {str(name): str(eid) for name, eid in rows}
    return {name: _experiment_id(name, known) for name in names}


def _experiment_id(name: str, known: Mapping[str, str]) -> str:
    if name in known:
        return known[name]
    listed = ", ".join(sorted(known)) or "none"
    raise ConfigError(
        f"no experiment named {name!r} in the store.{did_you_mean(name, known)} "
        f"Pass --experiment with one of: {listed}."
    )


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _run_rows_sql(
    conn: sqlite3.Connection, experiment_ids: list[str], query: RunQuery
) -> list[tuple[Any, ...]]:
    sql = (
        "SELECT run_uuid, name, experiment_id, status, start_time, artifact_uri, "
        "lifecycle_stage FROM runs WHERE lifecycle_stage = 'active' AND "
        f"experiment_id IN ({_placeholders(len(experiment_ids))})"
    )
    args: list[Any] = [int(e) for e in experiment_ids]
    if query.statuses:
        sql += f" AND status IN ({_placeholders(len(query.statuses))})"
        args += list(query.statuses)
    if query.run_ids:
        sql += f" AND run_uuid IN ({_placeholders(len(query.run_ids))})"
        args += list(query.run_ids)
    for key, value in query.tag_equalities().items():
        sql += (
            " AND run_uuid IN (SELECT run_uuid FROM tags WHERE key = ? AND value = ?)"
        )
        args += [key, value]
    if not query.include_parents:
        sql += (
            " AND run_uuid NOT IN (SELECT run_uuid FROM tags WHERE key = ? "
            "AND value = ?)"
        )
        args += list(_PARENT_TAG)
    sql += " ORDER BY start_time, run_uuid"
    return conn.execute(sql, args).fetchall()


def _metrics_sql(
    conn: sqlite3.Connection, run_ids: list[str], keys: set[str]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    if not keys:
        return out
    sql = (
        "SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE "
        f"run_uuid IN ({_placeholders(len(run_ids))}) "
        f"AND key IN ({_placeholders(len(keys))})"
    )
    for run_id, key, value, is_nan in conn.execute(sql, [*run_ids, *sorted(keys)]):
        out.setdefault(run_id, {})[key] = math.nan if is_nan else float(value)
    return out


def _tags_sql(
    conn: sqlite3.Connection, run_ids: list[str], extra: set[str]
) -> dict[str, dict[str, str]]:
    likes = " OR ".join("key LIKE ?" for _ in TAG_PREFIXES)
    args: list[Any] = [*run_ids, *(f"{p}%" for p in TAG_PREFIXES)]
    if extra:
        likes += f" OR key IN ({_placeholders(len(extra))})"
        args += sorted(extra)
    sql = (
        "SELECT run_uuid, key, value FROM tags WHERE "
        f"run_uuid IN ({_placeholders(len(run_ids))}) AND ({likes})"
    )
    out: dict[str, dict[str, str]] = {}
    for run_id, key, value in conn.execute(sql, args):
        out.setdefault(run_id, {})[key] = value
    return out


def _params_sql(
    conn: sqlite3.Connection, run_ids: list[str], keys: set[str]
) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    if not keys:
        return out
    sql = (
        "SELECT run_uuid, key, value FROM params WHERE "
        f"run_uuid IN ({_placeholders(len(run_ids))}) "
        f"AND key IN ({_placeholders(len(keys))})"
    )
    for run_id, key, value in conn.execute(sql, [*run_ids, *sorted(keys)]):
        out.setdefault(run_id, {})[key] = value
    return out


def _logged_keys_sql(conn: sqlite3.Connection, run_ids: list[str]) -> set[str]:
    sql = (
        "SELECT DISTINCT key FROM latest_metrics WHERE "
        f"run_uuid IN ({_placeholders(len(run_ids))})"
    )
    return {row[0] for row in conn.execute(sql, run_ids)}


def _record(
    row: tuple[Any, ...],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    metric_keys: set[str],
) -> RunRecord:
    run_id, name, experiment_id, status, start_time, artifact_uri, _ = row
    return RunRecord(
        run_id=str(run_id),
        name=str(name or run_id),
        experiment_id=str(experiment_id),
        status=str(status),
        start_time=int(start_time or 0),
        metrics={k: v for k, v in metrics.items() if k in metric_keys},
        tags={k: v for k, v in tags.items() if k.startswith(TAG_PREFIXES)},
        artifact_uri=artifact_uri,
    )


def _keep(
    records: list[RunRecord],
    query: RunQuery,
    parsed: _Filter | None,
    metrics: Mapping[str, Mapping[str, float]],
    tags: Mapping[str, Mapping[str, str]],
    params: Mapping[str, Mapping[str, str]],
) -> list[RunRecord]:
    if parsed is None:
        return records
    entities = [
        _entity(
            r,
            metrics.get(r.run_id, {}),
            params.get(r.run_id, {}),
            tags.get(r.run_id, {}),
            "active",
        )
        for r in records
    ]
    kept = _matches(parsed, entities)
    return [r for r in records if r.run_id in kept]


# --------------------------------------------------------------------------
# The client route


def _fetch_client(
    uri: str, query: RunQuery, metric_keys: set[str], page_size: int
) -> RunSet:
    from runner.tracking import client_for

    client = client_for(uri)
    known = {str(e.name): str(e.experiment_id) for e in client.search_experiments()}
    experiments = {name: _experiment_id(name, known) for name in query.experiments}
    records: list[RunRecord] = []
    logged: set[str] = set()
    for run in _client_pages(client, list(experiments.values()), query, page_size):
        logged |= set(run.data.metrics)
        records.append(_record_from_run(run, metric_keys))
    records.sort(key=lambda r: (r.start_time, r.run_id))
    log.info("Read %d runs through MlflowClient <route=client>", len(records))
    return RunSet(records, logged, experiments, "client")


def _client_pages(
    client: Any, experiment_ids: list[str], query: RunQuery, page_size: int
) -> Iterator[Any]:
    clauses = []
    # MLflow's filter accepts IN lists for run_id only: one status goes in the
    # filter, several are checked below.
    if len(query.statuses) == 1:
        clauses.append(f"attributes.status = '{query.statuses[0]}'")
    for key, value in query.tag_equalities().items():
        clauses.append(f"tags.`{key}` = {_quote(value)}")
    if query.filter_string:
        clauses.append(query.filter_string)
    text = " and ".join(clauses)
    from mlflow.exceptions import MlflowException

    wanted = set(query.run_ids)
    key, value = _PARENT_TAG
    token = None
    while True:
        try:
            page = client.search_runs(
                experiment_ids,
                filter_string=text,
                max_results=max(page_size, 1000),
                page_token=token,
            )
        except MlflowException as exc:
            raise _filter_error(query.filter_string or text, exc) from exc
        for run in page:
            parent = run.data.tags.get(key) == value
            kept = (
                (not wanted or run.info.run_id in wanted)
                and (query.include_parents or not parent)
                and (not query.statuses or run.info.status in query.statuses)
            )
            if kept:
                yield run
        token = page.token
        if not token:
            return


def _quote(value: str) -> str:
    return f'"{value}"' if "'" in value else f"'{value}'"


def _record_from_run(run: Any, metric_keys: set[str]) -> RunRecord:
    info, data = run.info, run.data
    return RunRecord(
        run_id=str(info.run_id),
        name=str(info.run_name or info.run_id),
        experiment_id=str(info.experiment_id),
        status=str(info.status),
        start_time=int(info.start_time or 0),
        metrics={k: float(v) for k, v in data.metrics.items() if k in metric_keys},
        tags={k: v for k, v in data.tags.items() if k.startswith(TAG_PREFIXES)},
        artifact_uri=info.artifact_uri,
    )
