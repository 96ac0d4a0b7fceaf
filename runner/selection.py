"""Choosing a run by a declared goal: objective, constraints and tie-breakers.

A :class:`Policy` says what "best" means for the job at hand::

    objective: recall                 # val/recall, maximised (its registered direction)
    constraints:
      - recall>=0.5                   # catch at least half of the positives
      - precision>=0.2                # at most four false alarms per catch
    tie_breakers: [precision, roc_auc]

Metric names without a split prefix are read on the validation split, so the
test set stays an unbiased estimate of the chosen run; ``test/...`` keys are
allowed but raise a :class:`SelectionWarning`, since choosing on them makes
the test set a tuning set.  Directions come from
:data:`runner.metrics.REGISTRY`.

:func:`select` ranks the runs that pass every constraint, lists the others
with the constraints they fail, and refuses to rank runs evaluated under
different metric definitions or on different data unless the policy says
``rank_across: true``.  :func:`tag_choice` records the choice in MLflow.

Policies live in ``conf/selection/<name>.yaml`` (read with
``OmegaConf.load``, not composed into a run's config) or come from the
command line of ``python -m runner.compare``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runner._compare_store import RunRecord
from runner.errors import ConfigError, close_matches, did_you_mean

__all__ = [
    "Cohort",
    "Constraint",
    "MetricKey",
    "Policy",
    "Selection",
    "SelectionWarning",
    "cohorts",
    "load_policy",
    "metric_key",
    "parse_constraint",
    "select",
    "tag_choice",
]

#: Splits a metric key may start with; ``gap`` is train minus val.
SPLITS = ("train", "val", "test", "gap")
#: Split read when a name has no prefix.
DEFAULT_SPLIT = "val"
#: Diagnostics the runner logs as ``diagnostic.<name>`` = ``ok`` | ``warn``.
DIAGNOSTICS = (
    "accuracy_paradox",
    "overfitting",
    "leakage_duplicates",
    "leakage_feature",
    "leakage_time",
    "near_perfect",
)
#: Tag prefix of a recorded choice: ``runner.selection.<policy>`` = ``chosen``.
TAG_PREFIX = "runner.selection."
_DIRECTIONS = ("maximize", "minimize")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_CONSTRAINT = re.compile(r"^\s*([^<>=!\s]+)\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*$")
_POLICY_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_POLICY_KEYS = (
    "name",
    "description",
    "objective",
    "constraints",
    "tie_breakers",
    "split",
    "rank_across",
)


class SelectionWarning(UserWarning):
    """A selection that is allowed but undermines the result (test metrics)."""


# --------------------------------------------------------------------------
# Metric keys


@dataclass(frozen=True)
class MetricKey:
    """A logged metric key with the direction that makes it better.

    Parameters
    ----------
    key : str
        Logged key, e.g. ``val/recall``.
    split : str
        ``train``, ``val``, ``test`` or ``gap``.
    name : str
        Metric name, e.g. ``recall`` or ``recall.yes``.
    direction : {"maximize", "minimize", "none"}
        Registered direction; a ``gap/`` key takes the opposite of its metric's
        (a smaller train-minus-val gap is better for a score, a gap closer to
        zero for an error).
    """

    key: str
    split: str
    name: str
    direction: str

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b

    def sort_value(self, value: float) -> float:
        """Value whose ascending order puts the best first (nan last)."""
        if math.isnan(value):
            return math.inf
        return -value if self.direction == "maximize" else value


def metric_key(
    text: str,
    *,
    default_split: str = DEFAULT_SPLIT,
    setting: str = "metric",
    direction: str | None = None,
) -> MetricKey:
    """Parse ``split/name`` (or a bare ``name``) into a :class:`MetricKey`.

    Parameters
    ----------
    text : str
        ``val/recall``, ``test/precision``, ``gap/f1`` or ``recall``.
    default_split : str, default="val"
        Split of a bare name.
    setting : str, default="metric"
        What the key is for (``objective``, ``--sort``...), for messages.
    direction : {"maximize", "minimize"} or None, default=None
        Overrides the registered direction.

    Returns
    -------
    MetricKey

    Raises
    ------
    ConfigError
        If the split or the metric name is unknown (with close matches), or
        ``direction`` is not ``maximize``/``minimize``.

    Examples
    --------
    >>> metric_key("recall")
    MetricKey(key='val/recall', split='val', name='recall', direction='maximize')
    >>> metric_key("test/log_loss").direction
    'minimize'
    """
    raw = str(text).strip()
    split, _, name = raw.rpartition("/")
    split = split or default_split
    if split not in SPLITS:
        raise ConfigError(
            f"{setting} {raw!r} names the split {split!r}, which no run logs."
            f"{did_you_mean(split, SPLITS)} Write <split>/<metric> with split "
            f"one of {', '.join(SPLITS)}, e.g. val/{name or 'f1'}."
        )
    registered = _registered_direction(name, raw, setting)
    if split == "gap" and registered in _DIRECTIONS:
        registered = "minimize" if registered == "maximize" else "maximize"
    if direction is not None:
        registered = _check_direction(direction, setting)
    return MetricKey(f"{split}/{name}", split, name, registered)


def _registered_direction(name: str, raw: str, setting: str) -> str:
    from runner.metrics import REGISTRY

    definition = REGISTRY.get(name)
    if definition is None and "." in name:
        prefix = name.split(".", 1)[0]
        family = [d for d in REGISTRY.values() if d.per_class]
        definition = next((d for d in family if d.key_prefix == prefix), None)
    if definition is None:
        known = [
            *REGISTRY,
            *(f"{d.key_prefix}.<label>" for d in REGISTRY.values() if d.per_class),
        ]
        raise ConfigError(
            f"{setting} {raw!r} names the metric {name!r}, which is not in the "
            f"registry.{did_you_mean(name, known)} Use a name from the README's "
            f"'Metric names' table: {', '.join(known)}."
        )
    return str(definition.direction)


def _check_direction(direction: str, setting: str) -> str:
    if direction not in _DIRECTIONS:
        raise ConfigError(
            f"{setting}: direction {direction!r} is not one of "
            f"{', '.join(_DIRECTIONS)}.{did_you_mean(direction, _DIRECTIONS)} "
            "Write e.g. 'max:val/f1' or 'min:gap/f1'."
        )
    return direction


def _ranked_key(text: str, default_split: str, setting: str) -> MetricKey:
    """A key that orders runs: ``[max:|min:]split/name``, with a direction."""
    raw = str(text).strip()
    direction = None
    prefix, sep, rest = raw.partition(":")
    if sep and prefix in ("max", "min"):
        direction, raw = ("maximize" if prefix == "max" else "minimize"), rest
    key = metric_key(
        raw, default_split=default_split, setting=setting, direction=direction
    )
    if key.direction not in _DIRECTIONS:
        raise ConfigError(
            f"{setting} {text!r}: {key.name!r} describes the data and has no "
            "better direction, so it cannot rank runs. Choose a model metric "
            "(val/f1, val/recall, ...), or give one with 'max:' or 'min:'."
        )
    return key


# --------------------------------------------------------------------------
# Constraints


@dataclass(frozen=True)
class Constraint:
    """One condition a run must meet, e.g. ``val/precision>=0.5``.

    Parameters
    ----------
    text : str
        The constraint as written, normalised (``val/precision>=0.5``).
    key : str
        Metric key, or ``diagnostic.<name>`` for a diagnostic's flag.
    op : {">=", "<=", ">", "<", "==", "!="}
        Comparison.
    value : float or str
        Bound (a number for a metric, ``ok``/``warn`` for a diagnostic).
    """

    text: str
    key: str
    op: str
    value: float | str

    @property
    def is_diagnostic(self) -> bool:
        """Whether the constraint reads a ``diagnostic.<name>`` tag."""
        return self.key.startswith("diagnostic.")

    @property
    def split(self) -> str | None:
        """Split of a metric constraint; None for a diagnostic."""
        return None if self.is_diagnostic else self.key.split("/", 1)[0]

    def failure(self, record: RunRecord) -> str | None:
        """Why ``record`` fails the constraint, or None when it passes."""
        if self.is_diagnostic:
            return self._diagnostic_failure(record)
        value = record.metrics.get(self.key)
        if value is None:
            return f"{self.text} failed: the run did not log {self.key}"
        if math.isnan(value):
            return f"{self.text} failed: {self.key} is undefined (nan)"
        if _OPERATORS[self.op](value, self.value):
            return None
        return f"{self.text} failed: {self.key} = {value:.4f}"

    def _diagnostic_failure(self, record: RunRecord) -> str | None:
        status = record.tags.get(self.key)
        if _OPERATORS[self.op](status, self.value):
            return None
        if status is None:
            return f"{self.text} failed: the run has no {self.key} tag"
        reason = record.tags.get(f"{self.key}.reason", "")
        return f"{self.text} failed: {self.key} is {status}" + (
            f" ({reason})" if reason else ""
        )


def parse_constraint(text: str, *, default_split: str = DEFAULT_SPLIT) -> Constraint:
    """Parse ``<key><op><bound>``, e.g. ``test/precision>=0.5``.

    Parameters
    ----------
    text : str
        A metric key (``split/name`` or a bare name, read on
        ``default_split``), an operator (``>=``, ``<=``, ``>``, ``<``,
        ``==``, ``!=``) and a number; or ``diagnostic.<name>==ok`` /
        ``diagnostic.<name>!=warn``.
    default_split : str, default="val"
        Split of a bare metric name.

    Returns
    -------
    Constraint

    Raises
    ------
    ConfigError
        If the text does not have that shape, the metric or diagnostic is
        unknown, or the bound is not a number (or ``ok``/``warn``).

    Examples
    --------
    >>> parse_constraint("precision >= 0.5").text
    'val/precision>=0.5'
    """
    match = _CONSTRAINT.match(str(text))
    if match is None:
        raise ConfigError(
            f"constraint {text!r} is not <metric><operator><number>. Write it "
            "like 'val/precision>=0.5' or 'recall>0.3' (operators >=, <=, >, <, "
            "==, !=), or 'diagnostic.leakage_feature!=warn'."
        )
    key, op, bound = match.groups()
    if key.startswith("diagnostic."):
        return _diagnostic_constraint(text, key, op, bound)
    parsed = metric_key(key, default_split=default_split, setting="constraint")
    try:
        value = float(bound)
    except ValueError:
        raise ConfigError(
            f"constraint {text!r}: the bound {bound!r} is not a number. Write a "
            f"number after the operator, e.g. '{parsed.key}{op}0.5'."
        ) from None
    return Constraint(f"{parsed.key}{op}{bound}", parsed.key, op, value)


def _diagnostic_constraint(text: str, key: str, op: str, bound: str) -> Constraint:
    name = key.removeprefix("diagnostic.")
    if name not in DIAGNOSTICS:
        raise ConfigError(
            f"constraint {text!r} names the diagnostic {name!r}, which the "
            f"runner does not log.{did_you_mean(name, DIAGNOSTICS)} Use one of "
            f"{', '.join(DIAGNOSTICS)}."
        )
    value = bound.strip("'\"")
    if op not in ("==", "!=") or value not in ("ok", "warn"):
        raise ConfigError(
            f"constraint {text!r}: a diagnostic is compared with == or != to ok "
            f"or warn; got {op!r} {bound!r}. Write e.g. '{key}!=warn'."
        )
    return Constraint(f"{key}{op}{value}", key, op, value)


# --------------------------------------------------------------------------
# Cohorts: runs whose numbers mean the same thing


@dataclass(frozen=True)
class Cohort:
    """Runs evaluated with the same metric definitions on the same data.

    Parameters
    ----------
    label : str
        ``A``, ``B``, ... in order of size (largest first).
    fingerprint : str or None
        ``runner.metrics_fingerprint`` tag (None: not logged).
    data_digest : str or None
        ``runner.data_digest`` tag (None: not logged).
    metrics_version : str or None
        ``runner.metrics_version`` tag.
    run_ids : tuple of str
        Runs of the cohort.
    """

    label: str
    fingerprint: str | None
    data_digest: str | None
    metrics_version: str | None
    run_ids: tuple[str, ...]

    def describe(self) -> str:
        """One line: what the cohort's runs share."""
        data = (self.data_digest or "not logged")[:12]
        defs = (self.fingerprint or "not logged")[:12]
        version = f" v{self.metrics_version}" if self.metrics_version else ""
        return (
            f"{self.label}: data digest {data}, metric definitions {defs}{version} "
            f"({len(self.run_ids)} run{'s' if len(self.run_ids) != 1 else ''})"
        )


def cohorts(records: Iterable[RunRecord]) -> list[Cohort]:
    """Group runs by metric-definition fingerprint and data digest.

    Parameters
    ----------
    records : iterable of RunRecord
        Runs with their ``runner.*`` tags.

    Returns
    -------
    list of Cohort
        Largest first; ties in the order the runs came.
    """
    groups: dict[tuple[str | None, str | None, str | None], list[str]] = {}
    for record in records:
        tags = record.tags
        key = (
            tags.get("runner.metrics_fingerprint"),
            tags.get("runner.data_digest"),
            tags.get("runner.metrics_version"),
        )
        groups.setdefault(key, []).append(record.run_id)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    return [
        Cohort(_label(i), fp, digest, version, tuple(ids))
        for i, ((fp, digest, version), ids) in enumerate(ordered)
    ]


def _label(i: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[i] if i < len(letters) else f"Z{i - len(letters) + 1}"


def mixed_cohorts_message(found: Sequence[Cohort], flag: str) -> str:
    """Why runs of several cohorts are not ranked together, and the fix."""
    listed = "; ".join(c.describe() for c in found)
    return (
        f"the runs come from {len(found)} cohorts that were evaluated under "
        f"different metric definitions or on different data, so their numbers "
        f"are not comparable: {listed}. Narrow the runs to one cohort (e.g. "
        "--tag runner.data_digest=<digest>), or pass "
        f"{flag} to rank them together anyway."
    )


# --------------------------------------------------------------------------
# Policies


@dataclass(frozen=True)
class Policy:
    """What the chosen run must be: best objective among runs that pass.

    Parameters
    ----------
    name : str, default="cli"
        Name of the policy; the choice is tagged ``runner.selection.<name>``.
    objective : str, default="primary"
        Metric key to optimise in its registered direction (``recall`` is
        ``val/recall``); ``primary`` is the runs' ``runner.primary_metric``
        on ``split``; ``max:``/``min:`` overrides the direction.
    constraints : tuple of str, default=()
        Conditions every candidate must meet, e.g. ``test/precision>=0.5``.
    tie_breakers : tuple of str, default=()
        Keys that order runs whose objective values are equal, in turn; then
        the run name and run id, so the choice is deterministic.
    split : str, default="val"
        Split of bare metric names.
    rank_across : bool, default=False
        Rank runs of different cohorts together (see :func:`cohorts`).
    description : str, default=""
        What the goal is for, in words.

    Raises
    ------
    ConfigError
        On a malformed name, key, constraint or split, with the fix.
    """

    name: str = "cli"
    objective: str = "primary"
    constraints: tuple[str, ...] = ()
    tie_breakers: tuple[str, ...] = ()
    split: str = DEFAULT_SPLIT
    rank_across: bool = False
    description: str = ""
    _constraints: tuple[Constraint, ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not _POLICY_NAME.match(self.name):
            raise ConfigError(
                f"selection policy name {self.name!r} is not a valid tag suffix. "
                "Use letters, digits, '_' and '-' only, e.g. recall_goal."
            )
        if self.split not in ("train", "val", "test"):
            raise ConfigError(
                f"selection split {self.split!r} is not train, val or test."
                f"{did_you_mean(self.split, ('train', 'val', 'test'))} Use "
                "split: val (the default) to keep the test set untouched."
            )
        parsed = tuple(
            parse_constraint(c, default_split=self.split) for c in self.constraints
        )
        object.__setattr__(self, "_constraints", parsed)
        for tie in self.tie_breakers:
            _ranked_key(tie, self.split, "tie-breaker")
        if self.objective != "primary":
            _ranked_key(self.objective, self.split, "objective")

    @property
    def parsed_constraints(self) -> tuple[Constraint, ...]:
        """The constraints, parsed."""
        return self._constraints

    def objective_key(self, records: Sequence[RunRecord]) -> MetricKey:
        """The objective as a key; ``primary`` read from the runs' tags.

        Raises
        ------
        ConfigError
            If ``primary`` is asked for and the runs name different primary
            metrics, or none.
        """
        if self.objective != "primary":
            return _ranked_key(self.objective, self.split, "objective")
        primaries = sorted(
            {
                r.tags["runner.primary_metric"]
                for r in records
                if "runner.primary_metric" in r.tags
            }
        )
        if len(primaries) != 1:
            found = ", ".join(primaries) or "none"
            raise ConfigError(
                "objective 'primary' needs one primary metric shared by the runs; "
                f"their runner.primary_metric tags give: {found}. Name the "
                "objective, e.g. --objective val/f1."
            )
        return _ranked_key(primaries[0], self.split, "objective")

    def tie_keys(self) -> list[MetricKey]:
        """The tie-breakers, parsed."""
        return [_ranked_key(t, self.split, "tie-breaker") for t in self.tie_breakers]

    def describe(self, objective: MetricKey) -> str:
        """One line: the objective, constraints and tie-breakers."""
        parts = [f"{objective.direction} {objective.key}"]
        if self._constraints:
            parts.append("subject to " + ", ".join(c.text for c in self._constraints))
        ties = [t.key for t in self.tie_keys()]
        parts.append("ties broken by " + ", ".join([*ties, "run name", "run id"]))
        return "; ".join(parts)

    def with_overrides(
        self,
        *,
        name: str | None = None,
        objective: str | None = None,
        constraints: Sequence[str] = (),
        tie_breakers: Sequence[str] = (),
        rank_across: bool = False,
    ) -> Policy:
        """A copy with command-line values: constraints and ties are added."""
        return replace(
            self,
            name=name or self.name,
            objective=objective or self.objective,
            constraints=(*self.constraints, *constraints),
            tie_breakers=(*self.tie_breakers, *tie_breakers),
            rank_across=self.rank_across or rank_across,
        )


def policy_dir() -> Path:
    """Folder of the named policies, ``conf/selection/``."""
    from runner._paths import conf_dir

    return conf_dir() / "selection"


def load_policy(name_or_path: str) -> Policy:
    """Read a policy from ``conf/selection/<name>.yaml`` or a YAML file.

    Parameters
    ----------
    name_or_path : str
        A policy name (``recall_goal``) or a path ending in ``.yaml``.

    Returns
    -------
    Policy
        Named after the file's stem unless the file sets ``name``.

    Raises
    ------
    ConfigError
        If there is no such policy, or the file has unknown keys or values
        of the wrong kind.
    """
    from omegaconf import OmegaConf

    path = _policy_path(name_or_path)
    loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"selection policy {path} must be a mapping of keys such as "
            f"objective and constraints; got {type(loaded).__name__}. See "
            f"{policy_dir() / 'recall_goal.yaml'} for the shape."
        )
    return policy_from_mapping(loaded, default_name=path.stem, source=str(path))


def _policy_path(name_or_path: str) -> Path:
    given = Path(name_or_path)
    if given.suffix in (".yaml", ".yml"):
        if given.is_file():
            return given
        raise ConfigError(
            f"selection policy file {name_or_path!r} does not exist. Give an "
            "existing YAML file, or a policy name from conf/selection/."
        )
    path = policy_dir() / f"{name_or_path}.yaml"
    if path.is_file():
        return path
    known = sorted(p.stem for p in policy_dir().glob("*.yaml"))
    raise ConfigError(
        f"no selection policy named {name_or_path!r}."
        f"{did_you_mean(name_or_path, known)} Use one of {', '.join(known)} "
        f"(files in {policy_dir()}), or a path to a YAML file."
    )


def policy_from_mapping(
    values: Mapping[Any, Any], *, default_name: str = "cli", source: str = "policy"
) -> Policy:
    """Build a :class:`Policy` from a mapping such as a loaded YAML file.

    Raises
    ------
    ConfigError
        On an unknown key (with close matches) or a value of the wrong kind.
    """
    for key in values:
        if key not in _POLICY_KEYS:
            raise ConfigError(
                f"unknown key {key!r} in selection policy {source}."
                f"{did_you_mean(str(key), _POLICY_KEYS)} Valid keys: "
                f"{', '.join(_POLICY_KEYS)}."
            )
    listed = {
        k: _as_strings(values.get(k), k, source)
        for k in ("constraints", "tie_breakers")
    }
    rank_across = values.get("rank_across", False)
    if not isinstance(rank_across, bool):
        raise ConfigError(
            f"rank_across in {source} must be true or false; got {rank_across!r}."
        )
    return Policy(
        name=str(values.get("name") or default_name),
        objective=str(values.get("objective") or "primary"),
        constraints=listed["constraints"],
        tie_breakers=listed["tie_breakers"],
        split=str(values.get("split") or DEFAULT_SPLIT),
        rank_across=rank_across,
        description=str(values.get("description") or ""),
    )


def _as_strings(value: Any, key: str, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(
        f"{key} in {source} must be a list of strings; got {value!r}. Write e.g. "
        f"{key}: ['val/precision>=0.5']."
    )


# --------------------------------------------------------------------------
# Selection


@dataclass
class Selection:
    """Outcome of :func:`select`.

    Parameters
    ----------
    policy : Policy
        The policy applied.
    objective : MetricKey
        The objective, resolved.
    ranked : list of RunRecord
        Runs that pass every constraint, best first.
    rejected : list of (RunRecord, list of str)
        Runs that fail, with one reason per failed constraint, in the order
        of their objective values.
    reason : str
        Why the first ranked run was chosen, or why none was.
    notes : list of str
        What the selection read (the splits), for the reader.
    warnings : list of str
        Messages also raised as :class:`SelectionWarning`.
    """

    policy: Policy
    objective: MetricKey
    ranked: list[RunRecord]
    rejected: list[tuple[RunRecord, list[str]]]
    reason: str
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> RunRecord | None:
        """The chosen run, or None when no run passes."""
        return self.ranked[0] if self.ranked else None

    def status_of(self, run_id: str) -> tuple[str, str]:
        """``(status, detail)`` of a run: chosen, passed or rejected."""
        for rank, record in enumerate(self.ranked, start=1):
            if record.run_id == run_id:
                return ("chosen" if rank == 1 else f"passed #{rank}", "")
        for record, reasons in self.rejected:
            if record.run_id == run_id:
                return "rejected", "; ".join(reasons)
        return "", ""


def select(
    records: Sequence[RunRecord],
    policy: Policy,
    *,
    logged_keys: Iterable[str] | None = None,
) -> Selection:
    """Choose the run that best meets ``policy`` among ``records``.

    Parameters
    ----------
    records : sequence of RunRecord
        Candidate runs, with the metrics the policy reads.
    policy : Policy
        Objective, constraints and tie-breakers.
    logged_keys : iterable of str or None, default=None
        Every metric key the runs logged; when given, a key no run logged is
        an error with close matches instead of a rejection of every run.

    Returns
    -------
    Selection
        Ranked passing runs, rejected runs with their reasons, and the reason
        for the choice.

    Raises
    ------
    ConfigError
        If there are no runs, the runs come from several cohorts and the
        policy does not set ``rank_across``, or a key was logged by no run.

    Warns
    -----
    SelectionWarning
        When the objective, a constraint or a tie-breaker reads test metrics.
    """
    import warnings

    if not records:
        raise ConfigError(
            "no runs to select from: the query matched none. Check --experiment, "
            "--sweep-id, --tag and --filter, or run `python -m runner` first."
        )
    objective = policy.objective_key(records)
    ties = policy.tie_keys()
    _check_logged(policy, objective, ties, logged_keys)
    found = cohorts(records)
    if len(found) > 1 and not policy.rank_across:
        raise ConfigError(mixed_cohorts_message(found, "--rank-across"))

    ranked, rejected = _rank(records, policy, objective, ties)
    notes, cautions = _notes(policy, objective, ties, found)
    for message in cautions:
        warnings.warn(message, SelectionWarning, stacklevel=2)
    reason = _reason(policy, objective, ties, ranked, rejected, notes, cautions)
    return Selection(policy, objective, ranked, rejected, reason, notes, cautions)


def _check_logged(
    policy: Policy,
    objective: MetricKey,
    ties: list[MetricKey],
    logged_keys: Iterable[str] | None,
) -> None:
    if logged_keys is None:
        return
    logged = set(logged_keys)
    wanted = [("objective", objective.key)]
    wanted += [
        ("constraint", c.key) for c in policy.parsed_constraints if not c.is_diagnostic
    ]
    # A tie-breaker nobody logged only never breaks a tie: not an error.
    for what, key in wanted:
        if key not in logged:
            close = close_matches(key, sorted(logged), cutoff=0.6)
            hint = (
                (" Close keys they did log: " + ", ".join(close) + ".") if close else ""
            )
            raise ConfigError(
                f"{what} key {key!r} was logged by none of the runs, so every run "
                f"would fail on it.{hint} Use a metric of the runs' suite and "
                "task (README 'Metric names')."
            )


def _rank(
    records: Sequence[RunRecord],
    policy: Policy,
    objective: MetricKey,
    ties: list[MetricKey],
) -> tuple[list[RunRecord], list[tuple[RunRecord, list[str]]]]:
    def order(record: RunRecord) -> tuple[Any, ...]:
        keys = [objective, *ties]
        return (
            *(k.sort_value(record.metric(k.key)) for k in keys),
            record.name,
            record.run_id,
        )

    passing, failing = [], []
    for record in sorted(records, key=order):
        reasons = [f for c in policy.parsed_constraints if (f := c.failure(record))]
        value = record.metric(objective.key)
        if math.isnan(value):
            what = (
                "is undefined (nan)"
                if objective.key in record.metrics
                else "was not logged"
            )
            reasons.append(f"objective {objective.key} {what}")
        if reasons:
            failing.append((record, reasons))
        else:
            passing.append(record)
    return passing, failing


def _notes(
    policy: Policy,
    objective: MetricKey,
    ties: list[MetricKey],
    found: list[Cohort],
) -> tuple[list[str], list[str]]:
    keys = [
        objective.key,
        *(c.key for c in policy.parsed_constraints if not c.is_diagnostic),
        *(t.key for t in ties),
    ]
    test_keys = [k for k in keys if k.startswith("test/")]
    train_keys = [k for k in keys if k.startswith("train/")]
    notes, cautions = [], []
    if not test_keys and not train_keys:
        notes.append(
            "selected on validation metrics (val/); the test set is left out of "
            "the choice and stays an unbiased estimate of the chosen run"
        )
    if test_keys:
        cautions.append(
            f"selection reads test metrics ({', '.join(test_keys)}): choosing on "
            "them makes the test set a tuning set, and the chosen run's test "
            "numbers are no longer an unbiased estimate. Select on val/ keys and "
            "read test/ only for the chosen run."
        )
    if train_keys:
        notes.append(
            f"selection reads training metrics ({', '.join(train_keys)}), which "
            "measure fit, not performance on new data"
        )
    if len(found) > 1:
        cautions.append(
            "runs of different cohorts were ranked together (rank_across): "
            + "; ".join(c.describe() for c in found)
        )
    return notes, cautions


def _reason(
    policy: Policy,
    objective: MetricKey,
    ties: list[MetricKey],
    ranked: list[RunRecord],
    rejected: list[tuple[RunRecord, list[str]]],
    notes: list[str],
    cautions: list[str],
) -> str:
    total = len(ranked) + len(rejected)
    if notes and notes[0].startswith("selected on validation"):
        where = "; chosen on validation metrics"
    elif any(c.startswith("selection reads test") for c in cautions):
        where = "; chosen on test metrics, so its test numbers are optimistic"
    else:
        where = ""
    if not ranked:
        return (
            f"policy {policy.name}: no run of {total} passes every constraint "
            f"({policy.describe(objective)})"
        )
    best = ranked[0]
    word = "highest" if objective.direction == "maximize" else "lowest"
    text = (
        f"policy {policy.name}: {word} {objective.key} = "
        f"{best.metric(objective.key):.4f} among {len(ranked)} of {total} runs "
        f"passing every constraint"
    )
    if policy.parsed_constraints:
        text += " (" + ", ".join(c.text for c in policy.parsed_constraints) + ")"
    if len(ranked) > 1:
        text += _tie_note(objective, ties, best, ranked[1])
    return f"{text}; {len(rejected)} rejected{where}"


def _tie_note(
    objective: MetricKey, ties: list[MetricKey], best: RunRecord, second: RunRecord
) -> str:
    if best.metric(objective.key) != second.metric(objective.key):
        return ""
    for key in ties:
        a, b = best.metric(key.key), second.metric(key.key)
        if a != b and not (math.isnan(a) and math.isnan(b)):
            return (
                f"; tied on {objective.key} with {second.name}, broken by "
                f"{key.key} ({a:.4f} vs {b:.4f})"
            )
    return f"; tied with {second.name} on every key, broken by run name"


def tag_choice(client: Any, selection: Selection, records: Sequence[RunRecord]) -> None:
    """Tag the chosen run ``runner.selection.<policy>`` = ``chosen``.

    The reason goes in ``runner.selection.<policy>.reason``.  Other runs of
    ``records`` that carry the tag from an earlier selection by the same
    policy lose it, so at most one run of a candidate set is chosen per
    policy; when no run passes, the earlier choice is removed too.

    Parameters
    ----------
    client : mlflow.MlflowClient
        Client on the store the runs came from.
    selection : Selection
        Result of :func:`select`.
    records : sequence of RunRecord
        The candidate runs (with their ``runner.*`` tags).
    """
    key = f"{TAG_PREFIX}{selection.policy.name}"
    chosen = selection.chosen
    for record in records:
        stale = chosen is None or record.run_id != chosen.run_id
        if stale and key in record.tags:
            client.delete_tag(record.run_id, key)
            if f"{key}.reason" in record.tags:
                client.delete_tag(record.run_id, f"{key}.reason")
    if chosen is not None:
        client.set_tag(chosen.run_id, key, "chosen")
        client.set_tag(chosen.run_id, f"{key}.reason", selection.reason[:7900])
