"""Compare runs side by side and choose one by a declared goal.

``python -m runner.compare`` reads runs from the runner's MLflow store (by
experiment, sweep id, tag or MLflow filter string) and prints one row per
run: its name, the config group choices that differ between the runs, the
chosen metrics on validation and test side by side, and the diagnostics'
flags, ranked by a metric in its registered direction.  ``--format`` gives a
terminal table, CSV, Markdown or a single-file HTML report with plots.

Runs evaluated under different metric definitions or on data with a
different digest form separate *cohorts*: each is ranked on its own and the
output says so; ``--rank-across`` ranks them together.

With ``--policy`` or ``--objective`` the command also selects a run (see
:mod:`runner.selection`): the table gains a ``selection`` column, the runs
that fail a constraint are listed with it, and the chosen run is tagged
``runner.selection.<policy>`` in MLflow (``--dry-run`` leaves the store as it
was).

Exit status: 0, or 1 when a selection finds no run that passes; 2 on bad
input, with a message that says what was wrong and how to fix it.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner._compare_store import RunQuery, RunRecord, RunSet, fetch_runs, sqlite_path
from runner._headline import DEFAULT_PRIMARY, HEADLINE
from runner.errors import ConfigError, RunnerError, did_you_mean
from runner.selection import (
    Cohort,
    MetricKey,
    Policy,
    Selection,
    SelectionWarning,
    cohorts,
    load_policy,
    metric_key,
    mixed_cohorts_message,
    select,
    tag_choice,
)

__all__ = ["Comparison", "Row", "build_comparison", "main", "render"]

log = logging.getLogger(__name__)

FORMATS = ("table", "csv", "markdown", "html")
#: Group choices first in this order, then any others alphabetically.
_CHOICE_ORDER = ("model", "dataset", "experiment", "split", "metrics", "tracking")
_COUNTS = ("tp", "fp", "tn", "fn")
#: Keys read for the HTML report's precision/recall plot, per task.
TRADE_OFF = {
    "binary": ("precision", "recall"),
    "multiclass": ("precision_macro", "recall_macro"),
}


def headline(task: str) -> list[str]:
    """Headline metric names of a task (those ``python -m runner`` prints)."""
    return list(HEADLINE.get(task, []))


def default_primary() -> dict[str, str]:
    """Primary metric of each task when the config names none."""
    return dict(DEFAULT_PRIMARY)


@dataclass
class Row:
    """One run in a comparison.

    Parameters
    ----------
    record : RunRecord
        The run.
    cohort : str
        Label of its cohort (``A``, ``B``, ...).
    rank : int or None
        Rank by the sort key (within its cohort unless ranked across);
        None when the sort value is missing, or the run was rejected.
    selection : str
        ``chosen``, ``passed #k``, ``rejected`` or ``""`` (no selection).
    detail : str
        The failed constraints of a rejected run.
    """

    record: RunRecord
    cohort: str
    rank: int | None
    selection: str = ""
    detail: str = ""


@dataclass
class Comparison:
    """Runs side by side, ranked, with what the reader must know.

    Parameters
    ----------
    rows : list of Row
        In display order.
    metrics : list of MetricKey
        Metric columns.
    sort : dict of str to MetricKey
        The key rows are ranked by, per cohort label; under ``""`` when one
        key ranks every row (one cohort, ``--rank-across``, a selection).
    choices : list of str
        Group choices that differ between the runs (shown as columns).
    constant_choices : dict of str to str
        Group choices shared by every run.
    diagnostics : list of str
        Diagnostic names the runs carry.
    cohorts : list of Cohort
        Groups of comparable runs.
    rank_across : bool
        Whether runs of different cohorts were ranked together.
    notes : list of str
        Caveats printed with the table.
    title : str
        What was compared.
    selection : Selection or None
        The selection, when one was made.
    """

    rows: list[Row]
    metrics: list[MetricKey]
    sort: dict[str, MetricKey]
    choices: list[str]
    constant_choices: dict[str, str]
    diagnostics: list[str]
    cohorts: list[Cohort]
    rank_across: bool
    notes: list[str] = field(default_factory=list)
    title: str = ""
    selection: Selection | None = None

    @property
    def all_choices(self) -> list[str]:
        """Every group choice, varying or not, in display order."""
        return _ordered_groups([*self.choices, *self.constant_choices])


# --------------------------------------------------------------------------
# Building the comparison


def metric_columns(
    names: Sequence[str] | None, tasks: Iterable[str]
) -> list[MetricKey]:
    """Metric columns: the given names, or the headline metrics of ``tasks``.

    A bare name gives two columns, ``val/<name>`` and ``test/<name>``; a key
    with a split prefix gives itself.

    Raises
    ------
    ConfigError
        If a name is not a registered metric (with close matches).
    """
    if names is None:
        wanted: list[str] = []
        for task in sorted(set(tasks), key=_task_order):
            wanted += [m for m in headline(task) if m not in wanted]
        names = wanted
    columns: list[MetricKey] = []
    for name in names:
        if "/" in name:
            columns.append(metric_key(name, setting="--metrics"))
        else:
            columns += [
                metric_key(f"{split}/{name}", setting="--metrics")
                for split in ("val", "test")
            ]
    return list({c.key: c for c in columns}.values())


def _task_order(task: str) -> int:
    order = ("binary", "multiclass", "regression")
    return order.index(task) if task in order else len(order)


def sort_key(text: str | None, records: Sequence[RunRecord]) -> MetricKey:
    """The ranking key: ``text``, or ``val/<primary>`` of most runs."""
    if text:
        key = metric_key(text, setting="--sort")
        if key.direction == "none":
            raise ConfigError(
                f"--sort {text!r}: {key.name!r} describes the data and has no "
                "better direction. Sort by a model metric, e.g. --sort val/f1."
            )
        return key
    counts: dict[str, int] = {}
    for record in records:
        primary = record.tags.get("runner.primary_metric") or default_primary().get(
            record.tags.get("runner.task", ""), ""
        )
        if primary:
            counts[primary] = counts.get(primary, 0) + 1
    primary = max(counts, key=lambda k: counts[k]) if counts else "f1"
    return metric_key(f"val/{primary}", setting="runner.primary_metric")


def build_comparison(
    runs: RunSet,
    *,
    metrics: Sequence[str] | None = None,
    sort: str | None = None,
    rank_across: bool = False,
    selection: Selection | None = None,
    title: str = "",
) -> Comparison:
    """Rank ``runs`` and gather what the table shows.

    Parameters
    ----------
    runs : RunSet
        Runs from :func:`runner._compare_store.fetch_runs`.
    metrics : sequence of str or None, default=None
        Metric names or keys; None: the headline metrics of the runs' tasks
        on val and test.
    sort : str or None, default=None
        Key to rank by; None: ``val/<primary>`` (the runs'
        ``runner.primary_metric``); with a selection, its objective.
    rank_across : bool, default=False
        Rank runs of different cohorts together.
    selection : Selection or None, default=None
        A selection over the same runs: rows follow its order.
    title : str, default=""
        What was compared, for the header.

    Returns
    -------
    Comparison

    Raises
    ------
    ConfigError
        On an unknown metric name, or a sort key no run logged (with close
        matches among the logged keys).
    """
    records = runs.records
    tasks = {r.tags.get("runner.task", "") for r in records} - {""}
    columns = metric_columns(metrics, tasks or {"binary"})
    found = cohorts(records)
    if selection is not None:
        keys = {"": selection.objective}
        rows = _selection_rows(selection, found)
    else:
        keys = _cohort_keys(sort, records, found, rank_across, runs.logged_keys)
        rows = _ranked_rows(records, keys, found)
    varying, constant = _choices(records)
    notes = _notes(
        found,
        rank_across or bool(selection and selection.policy.rank_across),
        columns,
        runs.logged_keys,
        bool(selection),
    )
    return Comparison(
        rows=rows,
        metrics=columns,
        sort=keys,
        choices=varying,
        constant_choices=constant,
        diagnostics=_diagnostic_names(records),
        cohorts=found,
        rank_across=rank_across,
        notes=notes,
        title=title,
        selection=selection,
    )


def _not_logged(key: str, setting: str, logged: Iterable[str]) -> str:
    hint = did_you_mean(key, sorted(logged), cutoff=0.6)
    return (
        f"{setting} {key!r} was logged by none of the runs.{hint} Use a key of "
        "the runs' metric suite, <split>/<metric> (README 'Metric names')."
    )


def _ranked_rows(
    records: Sequence[RunRecord], keys: Mapping[str, MetricKey], found: list[Cohort]
) -> list[Row]:
    """Rows ranked within each cohort by that cohort's key (``""``: all runs)."""
    cohort_of = {rid: c.label for c in found for rid in c.run_ids}
    if "" in keys:
        groups = [("", list(records))]
    else:
        groups = [
            (c.label, [r for r in records if cohort_of[r.run_id] == c.label])
            for c in found
        ]
    rows = []
    for label, group in groups:
        key = keys[label]

        def order(record: RunRecord, key: MetricKey = key) -> tuple[Any, ...]:
            return (key.sort_value(record.metric(key.key)), record.name, record.run_id)

        for rank, record in enumerate(sorted(group, key=order), start=1):
            missing = math.isnan(record.metric(key.key))
            rows.append(
                Row(record, cohort_of[record.run_id], None if missing else rank)
            )
    return rows


def _cohort_keys(
    sort: str | None,
    records: Sequence[RunRecord],
    found: list[Cohort],
    across: bool,
    logged: set[str],
) -> dict[str, MetricKey]:
    """The sort key of each cohort: ``--sort``, or the cohort's own primary.

    Ranked across cohorts, one key serves all, under the label ``""``.
    """
    if across or len(found) < 2 or sort:
        key = sort_key(sort, records)
        if records and key.key not in logged:
            raise ConfigError(_not_logged(key.key, "--sort", logged))
        return {"": key} if across or len(found) < 2 else {c.label: key for c in found}
    by_id = {r.run_id: r for r in records}
    return {c.label: sort_key(None, [by_id[i] for i in c.run_ids]) for c in found}


def _selection_rows(selection: Selection, found: list[Cohort]) -> list[Row]:
    cohort_of = {rid: c.label for c in found for rid in c.run_ids}
    rows = []
    for rank, record in enumerate(selection.ranked, start=1):
        status, _ = selection.status_of(record.run_id)
        rows.append(Row(record, cohort_of[record.run_id], rank, status))
    for record, reasons in selection.rejected:
        rows.append(
            Row(record, cohort_of[record.run_id], None, "rejected", "; ".join(reasons))
        )
    return rows


def _choices(records: Sequence[RunRecord]) -> tuple[list[str], dict[str, str]]:
    prefix = "runner.choice."
    values: dict[str, set[str]] = {}
    for record in records:
        for tag, value in record.tags.items():
            if tag.startswith(prefix):
                values.setdefault(tag[len(prefix) :], set()).add(value)
    for record in records:
        for group in values:
            values[group].add(record.tags.get(prefix + group, ""))
    # model and dataset name what was compared: always shown.
    varying = [g for g in values if len(values[g]) > 1 or g in ("model", "dataset")]
    constant = {
        g: next(iter(values[g])) for g in _ordered_groups(values) if g not in varying
    }
    return _ordered_groups(varying), constant


def _ordered_groups(groups: Iterable[str]) -> list[str]:
    listed = list(dict.fromkeys(groups))
    first = [g for g in _CHOICE_ORDER if g in listed]
    return first + sorted(g for g in listed if g not in _CHOICE_ORDER)


def _diagnostic_names(records: Sequence[RunRecord]) -> list[str]:
    names = {
        tag.removeprefix("diagnostic.")
        for record in records
        for tag in record.tags
        if tag.startswith("diagnostic.") and not tag.endswith(".reason")
    }
    return sorted(names)


def _notes(
    found: list[Cohort],
    across: bool,
    columns: list[MetricKey],
    logged: set[str],
    selecting: bool,
) -> list[str]:
    notes = []
    if len(found) > 1:
        listed = "; ".join(c.describe() for c in found)
        if across:
            notes.append(
                f"ranked across {len(found)} cohorts (--rank-across) although "
                f"their numbers may not mean the same thing: {listed}"
            )
        elif not selecting:
            notes.append(
                f"{len(found)} cohorts, evaluated under different metric "
                f"definitions or on different data, are ranked separately: "
                f"{listed}. Pass --rank-across to rank them together."
            )
    unlogged = [c.key for c in columns if c.key not in logged]
    if unlogged and logged:
        notes.append(f"no run logged {', '.join(unlogged)}")
    return notes


# --------------------------------------------------------------------------
# Rendering


def render(comparison: Comparison, fmt: str, **html_options: Any) -> str:
    """The comparison as text in ``fmt`` (table, csv, markdown or html).

    Parameters
    ----------
    comparison : Comparison
        From :func:`build_comparison`.
    fmt : {"table", "csv", "markdown", "html"}
        Output format.
    **html_options
        Passed to :func:`runner._report.render_html` (``uri``, ``plot_runs``).

    Returns
    -------
    str
    """
    if fmt == "csv":
        return _csv(comparison)
    if fmt == "markdown":
        return _markdown(comparison)
    if fmt == "html":
        from runner._report import render_html

        return render_html(comparison, **html_options)
    return _table(comparison)


def format_value(key: MetricKey, value: float | None) -> str:
    """A metric value for a person: 4 decimals, counts as integers."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    if key.name in _COUNTS or key.name.startswith("support."):
        return f"{value:.0f}"
    return f"{value:.4f}"


def diagnostics_cell(record: RunRecord, names: Sequence[str]) -> str:
    """Warned diagnostics of a run, ``ok`` if none, ``""`` if not logged."""
    flags = [n for n in names if record.tags.get(f"diagnostic.{n}") == "warn"]
    if flags:
        return "warn: " + ", ".join(flags)
    return "ok" if any(f"diagnostic.{n}" in record.tags for n in names) else ""


def header(comparison: Comparison) -> list[str]:
    """Column names of the table, markdown and HTML formats."""
    cols = ["rank"]
    if len(comparison.cohorts) > 1:
        cols.append("cohort")
    cols += ["run", *comparison.choices, *(m.key for m in comparison.metrics)]
    if comparison.diagnostics:
        cols.append("flags")
    if comparison.selection is not None:
        cols.append("selection")
    return cols


def cells(comparison: Comparison, row: Row) -> list[str]:
    """One row's cells, matching :func:`header`."""
    record = row.record
    out = [str(row.rank) if row.rank is not None else "-"]
    if len(comparison.cohorts) > 1:
        out.append(row.cohort)
    out.append(record.name)
    out += [record.tags.get(f"runner.choice.{g}", "") for g in comparison.choices]
    out += [format_value(m, record.metrics.get(m.key)) for m in comparison.metrics]
    if comparison.diagnostics:
        out.append(diagnostics_cell(record, comparison.diagnostics))
    if comparison.selection is not None:
        out.append(row.selection)
    return out


def summary_lines(comparison: Comparison) -> list[tuple[str, str]]:
    """``(label, text)`` lines printed under the table."""
    lines = [("sorted", _sorted_text(comparison))]
    if comparison.constant_choices:
        same = ", ".join(f"{g}={v}" for g, v in comparison.constant_choices.items())
        lines.append(("same", f"for every run: {same}"))
    lines += [("note", n) for n in comparison.notes]
    selection = comparison.selection
    if selection is None:
        return lines
    lines.append(
        (
            "policy",
            f"{selection.policy.name}: "
            f"{selection.policy.describe(selection.objective)}",
        )
    )
    if selection.policy.description:
        lines.append(("goal", selection.policy.description))
    lines += [("note", n) for n in selection.notes]
    lines += [("warning", w) for w in selection.warnings]
    chosen = selection.chosen
    if chosen is not None:
        lines.append(
            ("chosen", f"{chosen.name} (run {chosen.run_id}): {selection.reason}")
        )
    else:
        lines.append(("chosen", f"none: {selection.reason}"))
    lines += [
        ("rejected", f"{r.name}: {'; '.join(why)}") for r, why in selection.rejected
    ]
    return lines


def _sorted_text(comparison: Comparison) -> str:
    by = "objective " if comparison.selection else ""
    keys = comparison.sort
    if "" in keys:
        return f"by {by}{_key_text(keys[''])}"
    distinct = {k.key for k in keys.values()}
    if len(distinct) == 1:
        return f"by {_key_text(next(iter(keys.values())))}, within each cohort"
    listed = "; ".join(f"{label} by {_key_text(k)}" for label, k in keys.items())
    return f"within each cohort by its primary metric: {listed}"


def _key_text(key: MetricKey) -> str:
    better = "higher" if key.direction == "maximize" else "lower"
    return f"{key.key} ({key.direction}: {better} is better)"


def _table(comparison: Comparison) -> str:
    head = header(comparison)
    body = [cells(comparison, row) for row in comparison.rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    numeric = {i for i, h in enumerate(head) if "/" in h or h == "rank"}

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [comparison.title] if comparison.title else []
    out += [line(head), *(line(r) for r in body), ""]
    out += [f"{label:<9} {text}" for label, text in summary_lines(comparison)]
    return "\n".join(out) + "\n"


def _markdown(comparison: Comparison) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    head = header(comparison)
    align = ["---:" if "/" in h or h == "rank" else "---" for h in head]
    out = [f"**{escape(comparison.title)}**", ""] if comparison.title else []
    out.append("| " + " | ".join(head) + " |")
    out.append("| " + " | ".join(align) + " |")
    for row in comparison.rows:
        out.append("| " + " | ".join(escape(c) for c in cells(comparison, row)) + " |")
    out.append("")
    out += [
        f"- **{label}**: {escape(text)}" for label, text in summary_lines(comparison)
    ]
    return "\n".join(out) + "\n"


def _csv(comparison: Comparison) -> str:
    """Every column, full precision: for programs, not people."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    groups = comparison.all_choices
    head = [
        "rank",
        "cohort",
        "run_id",
        "run",
        *(f"choice.{g}" for g in groups),
        *(m.key for m in comparison.metrics),
        *(f"diagnostic.{d}" for d in comparison.diagnostics),
    ]
    if comparison.selection is not None:
        head += ["selection", "selection_detail"]
    writer.writerow(head)
    for row in comparison.rows:
        record = row.record
        values = [
            "" if row.rank is None else row.rank,
            row.cohort,
            record.run_id,
            record.name,
            *(record.tags.get(f"runner.choice.{g}", "") for g in groups),
            *(_csv_number(record.metrics.get(m.key)) for m in comparison.metrics),
            *(record.tags.get(f"diagnostic.{d}", "") for d in comparison.diagnostics),
        ]
        if comparison.selection is not None:
            values += [row.selection, row.detail]
        writer.writerow(values)
    return buffer.getvalue()


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


# --------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runner.compare",
        description="Compare runner runs side by side; optionally choose one by a "
        "selection policy and tag it in MLflow.",
    )
    runs = parser.add_argument_group("which runs")
    runs.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow store (default: the "
        "runner's outputs/mlflow.db, honouring RUNNER_HOME)",
    )
    runs.add_argument(
        "--experiment",
        action="append",
        metavar="NAME",
        help="MLflow experiment name; repeat for several (default: runner)",
    )
    runs.add_argument("--sweep-id", metavar="ID", help="runs tagged runner.sweep_id=ID")
    runs.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="runs whose tag KEY equals VALUE; repeatable",
    )
    runs.add_argument(
        "--filter",
        dest="filter_string",
        metavar="FILTER",
        help='an MLflow filter string, e.g. "metrics.`val/f1` > 0.8"',
    )
    runs.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="run status to keep; repeatable (default: FINISHED)",
    )
    runs.add_argument(
        "--all-statuses", action="store_true", help="keep runs of every status"
    )
    runs.add_argument(
        "--include-parents",
        action="store_true",
        help="keep sweep parent runs (tag runner.role=sweep)",
    )
    table = parser.add_argument_group("the table")
    table.add_argument(
        "--metrics",
        action="append",
        metavar="NAMES",
        help="comma-separated metric names (shown on val and test) "
        "or keys such as test/recall (default: the headline metrics)",
    )
    table.add_argument(
        "--sort",
        metavar="KEY",
        help="rank by this key in its "
        "registered direction (default: val/<primary metric>)",
    )
    table.add_argument(
        "--rank-across",
        action="store_true",
        help="rank runs of different cohorts (metric definitions or "
        "data digest) together",
    )
    table.add_argument(
        "--limit", type=int, metavar="N", help="show only the first N rows"
    )
    table.add_argument("--format", choices=FORMATS, default="table")
    table.add_argument(
        "--output",
        metavar="PATH",
        help="write to PATH instead of "
        "standard output (html: default outputs/reports/"
        "compare-<time>.html)",
    )
    table.add_argument(
        "--plot-runs",
        type=int,
        default=12,
        metavar="N",
        help="html: runs shown in the plots (default 12)",
    )
    choose = parser.add_argument_group("selection")
    choose.add_argument(
        "--policy",
        metavar="NAME|FILE",
        help="a policy of conf/selection/ or a YAML file",
    )
    choose.add_argument(
        "--objective",
        metavar="KEY",
        help="metric to optimise "
        "(bare names are read on val), e.g. recall or max:val/f1",
    )
    choose.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="C",
        help="e.g. 'precision>=0.5' or 'test/recall>0.3'; repeatable",
    )
    choose.add_argument(
        "--tie-breaker",
        action="append",
        default=[],
        metavar="KEY",
        help="key ordering runs with equal objective; repeatable",
    )
    choose.add_argument(
        "--name",
        metavar="NAME",
        help="policy name for the tag "
        "runner.selection.<name> (default: the policy's, or cli)",
    )
    choose.add_argument(
        "--dry-run", action="store_true", help="select but do not tag the chosen run"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress to standard error"
    )
    return parser


@dataclass
class _Options:
    uri: str
    query: RunQuery
    policy: Policy | None
    args: argparse.Namespace


def _options(args: argparse.Namespace) -> _Options:
    from runner._paths import default_tracking_uri

    tags = {}
    for item in args.tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"--tag {item!r} is not KEY=VALUE. Write e.g. "
                "--tag runner.choice.model=rf."
            )
        tags[key] = value
    statuses = () if args.all_statuses else tuple(args.status or ("FINISHED",))
    query = RunQuery(
        experiments=tuple(args.experiment or ("runner",)),
        sweep_id=args.sweep_id,
        tags=tags,
        filter_string=args.filter_string,
        statuses=statuses,
        include_parents=args.include_parents,
    )
    uri = args.tracking_uri or default_tracking_uri()
    path = sqlite_path(uri)
    if path is not None:
        # Absolute, so that tagging and artifact reads use the same file; the
        # folder is not created (a comparison never creates a store).
        uri = f"sqlite:///{path}"
    for number, flag in ((args.limit, "--limit"), (args.plot_runs, "--plot-runs")):
        if number is not None and number < 1:
            raise ConfigError(
                f"{flag} must be at least 1; got {number}. "
                f"Drop {flag} or give a positive count."
            )
    return _Options(uri, query, _policy(args), args)


def _policy(args: argparse.Namespace) -> Policy | None:
    if not (args.policy or args.objective or args.constraint or args.tie_breaker):
        return None
    base = load_policy(args.policy) if args.policy else Policy()
    return base.with_overrides(
        name=args.name,
        objective=args.objective,
        constraints=args.constraint,
        tie_breakers=args.tie_breaker,
        rank_across=args.rank_across,
    )


def _needed_keys(opts: _Options, extra: Iterable[str] = ()) -> set[str]:
    args = opts.args
    keys: set[str] = set(extra)
    names = _split_names(args.metrics)
    tasks = ("binary", "multiclass", "regression")
    for column in metric_columns(names, tasks):
        keys.add(column.key)
    for primary in default_primary().values():
        keys |= {f"val/{primary}", f"test/{primary}"}
    if args.sort:
        keys.add(metric_key(args.sort, setting="--sort").key)
    if args.format == "html":
        for names_ in TRADE_OFF.values():
            keys |= {f"{s}/{n}" for s in ("val", "test") for n in names_}
    policy = opts.policy
    if policy is not None:
        if policy.objective != "primary":
            keys.add(policy.objective_key([]).key)
        keys |= {c.key for c in policy.parsed_constraints if not c.is_diagnostic}
        keys |= {t.key for t in policy.tie_keys()}
    return keys


def _split_names(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _fetch(opts: _Options) -> RunSet:
    keys = _needed_keys(opts)
    runs = fetch_runs(opts.uri, opts.query, keys)
    # A primary metric outside the headline suite is read in a second pass.
    primaries = {r.tags.get("runner.primary_metric") for r in runs.records} - {None}
    extra = {f"{s}/{p}" for p in primaries for s in ("val", "test")} - keys
    if extra & runs.logged_keys:
        runs = fetch_runs(opts.uri, opts.query, keys | extra)
    return runs


def _title(opts: _Options, runs: RunSet) -> str:
    query = opts.query
    names = ", ".join(f"'{e}'" for e in query.experiments)
    parts = [f"{len(runs.records)} runs of experiment {names}"]
    if query.sweep_id:
        parts.append(f"sweep {query.sweep_id}")
    parts += [f"{k}={v}" for k, v in query.tags.items()]
    if query.filter_string:
        parts.append(f"filter {query.filter_string!r}")
    return ", ".join(parts)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv``; returns the exit status.

    Raises
    ------
    RunnerError
        On bad input (the caller prints it and exits with status 2).
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(name)s: %(message)s",
    )
    opts = _options(args)
    runs = _fetch(opts)
    if not runs.records:
        raise ConfigError(
            f"no runs match: {_title(opts, runs)} in {opts.uri} has none with "
            f"status {', '.join(opts.query.statuses) or 'any'}. Check --experiment, "
            "--sweep-id, --tag and --filter, or pass --all-statuses."
        )
    selection = _select(opts, runs)
    comparison = build_comparison(
        runs,
        metrics=_split_names(args.metrics),
        sort=args.sort,
        rank_across=args.rank_across,
        selection=selection,
        title=_title(opts, runs),
    )
    if args.limit is not None:
        comparison.rows = comparison.rows[: args.limit]
    _emit(comparison, opts)
    if selection is not None and not args.dry_run:
        _tag(opts, selection, runs.records)
    return 1 if selection is not None and selection.chosen is None else 0


def _select(opts: _Options, runs: RunSet) -> Selection | None:
    if opts.policy is None:
        if opts.args.format == "csv" and len(cohorts(runs.records)) > 1:
            log.warning(
                "%s", mixed_cohorts_message(cohorts(runs.records), "--rank-across")
            )
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SelectionWarning)
        selection = select(runs.records, opts.policy, logged_keys=runs.logged_keys)
    for warning in caught:
        print(f"runner.compare: warning: {warning.message}", file=sys.stderr)
    return selection


def _emit(comparison: Comparison, opts: _Options) -> None:
    args = opts.args
    text = render(comparison, args.format, uri=opts.uri, plot_runs=args.plot_runs)
    output = args.output
    if output is None and args.format == "html":
        from runner._paths import runner_home

        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        output = str(runner_home() / "outputs" / "reports" / f"compare-{stamp}.html")
    if output is None:
        sys.stdout.write(text)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if args.format == "html":
        # The table itself is in the file; the terminal gets it too, and where
        # the report went.
        sys.stdout.write(_table(comparison))
    print(f"report    {path.resolve()}")


def _tag(opts: _Options, selection: Selection, records: Sequence[RunRecord]) -> None:
    from runner.tracking import client_for

    tag_choice(client_for(opts.uri), selection, records)
    chosen = selection.chosen
    key = f"runner.selection.{selection.policy.name}"
    if chosen is not None:
        print(f"tagged    {key}=chosen on run {chosen.run_id} (reason in {key}.reason)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: bad input is printed without a traceback, exit status 2."""
    try:
        return run(argv)
    except RunnerError as exc:
        print(f"runner.compare: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    import os

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.exit(main())
