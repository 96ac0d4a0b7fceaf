"""One run: check the config, split, fit, evaluate and log to MLflow.

:func:`run_job` is the task function behind ``python -m runner``.  It reads
like the recipe it follows: plan (every check that can fail on bad input,
before a run exists), open the MLflow run, train and evaluate, log, print the
summary.  Anything raised after the run is opened ends it ``FAILED`` with the
error logged; SIGTERM ends it ``KILLED``.
"""

from __future__ import annotations

import logging
import math
import random
import signal
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runner import _sweep, tracking
from runner._headline import DEFAULT_PRIMARY, HEADLINE
from runner._naming import run_name
from runner.data import Dataset, load_dataset
from runner.errors import ConfigError
from runner.models import ModelSpec, model_spec
from runner.split import SPLITS, Split, check_split, make_split

log = logging.getLogger(__name__)

#: Group choices that are Hydra's own or the schema, not the experiment's.
_NOT_CHOICES = ("hydra/", "schema")


@dataclass
class JobContext:
    """What the run knows about how it was launched."""

    choices: dict[str, str]
    overrides: list[str]
    output_dir: Path
    defaults: Any = None
    job_num: int | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    #: Run name to use instead of the derived one (reruns).
    name: str | None = None
    #: Set by :func:`run_job` once the run is open (sweep records, reruns).
    run_id: str | None = None
    run_name: str | None = None
    primary: str | None = None

    @classmethod
    def from_hydra(cls) -> JobContext:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        choices = {
            k: str(v)
            for k, v in hc.runtime.choices.items()
            if not k.startswith(_NOT_CHOICES) and v is not None
        }
        multirun = hc.mode == RunMode.MULTIRUN
        return cls(
            choices=choices,
            overrides=list(hc.overrides.task),
            output_dir=Path(hc.runtime.output_dir),
            defaults=_defaults_for(choices),
            job_num=int(hc.job.num) if multirun else None,
        )


def _defaults_for(choices: dict[str, str]) -> Any:
    """The config these group choices give with no key overrides.

    Cached per process (a compose costs about 100 ms): the jobs of an
    in-process sweep mostly share their group choices.
    """
    from hydra import compose

    key = tuple(choices.items())
    if key not in _DEFAULTS:
        _DEFAULTS[key] = compose(
            config_name="config", overrides=[f"{g}={c}" for g, c in key]
        )
    return _DEFAULTS[key]


_DEFAULTS: dict[tuple[tuple[str, str], ...], Any] = {}


@dataclass
class Plan:
    """Everything checked and resolved before a run is opened."""

    config: dict[str, Any]
    data: Dataset
    spec: ModelSpec
    split: Split
    suite: list[str]
    primary: str
    name: str
    context: JobContext


@dataclass
class Predictions:
    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray | None
    score_names: list[str]
    scores_are_proba: bool


def plan_run(cfg: Any, context: JobContext) -> Plan:
    """Resolve and check the whole config and the data; nothing is trained.

    Raises
    ------
    RunnerError
        On any bad key, value, choice or data, with what to change.
    """
    from omegaconf import OmegaConf

    _check_missing(cfg)
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    config = {str(k): v for k, v in container.items()}
    _check_unknown(config)
    data_label = _data_label(cfg, context)
    data = load_dataset(cfg.dataset, data_label)
    spec = model_spec(
        dict(config["model"]),
        data.task,
        context.choices.get("model", "model"),
        list(cfg.allow_targets),
    )
    check_split(data, cfg.split)
    suite, primary = _check_metrics(cfg.metrics, data)
    name = context.name or cfg.tracking.run_name or _name(context, data_label)
    split = make_split(data, cfg.split, cfg.seed)
    return Plan(config, data, spec, split, suite, primary, name, context)


def _check_missing(cfg: Any) -> None:
    from omegaconf import OmegaConf

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        sets = " ".join(f"{k}=..." for k in missing)
        raise ConfigError(
            f"missing mandatory value(s): {', '.join(missing)}. Set them on the "
            f"command line, e.g. `python -m runner {' '.join(_overrides_of(cfg))}"
            f"{sets}`."
        )


def _check_unknown(config: dict[str, Any]) -> None:
    from runner.errors import did_you_mean
    from runner.schema import schema_keys, unknown_keys

    unknown = unknown_keys(config)
    if unknown:
        key = unknown[0]
        raise ConfigError(
            f"unknown config key '{key}': no part of the runner reads it, so it "
            f"would be ignored.{did_you_mean(key, schema_keys())} Remove it, or "
            "set a key the schema declares (see `python -m runner --cfg job`)."
        )


def _overrides_of(cfg: Any) -> list[str]:
    return ["dataset=csv"] if cfg.dataset.source == "csv" else []


def _data_label(cfg: Any, context: JobContext) -> str:
    if cfg.dataset.source == "csv" and cfg.dataset.path not in (None, "???"):
        return Path(str(cfg.dataset.path)).stem
    return context.choices.get("dataset", str(cfg.dataset.name))


def _check_metrics(cfg: Any, data: Dataset) -> tuple[list[str], str]:
    from runner.metrics import default_suite, validate_suite

    suite = list(cfg.suite) if cfg.suite is not None else default_suite(data.task)
    try:
        validate_suite(suite, data.task)
    except ValueError as exc:  # UnknownMetricError names the close matches
        raise ConfigError(f"metrics.suite: {exc}") from exc
    primary = cfg.primary or DEFAULT_PRIMARY[data.task]
    if primary not in suite:
        from runner.errors import did_you_mean

        raise ConfigError(
            f"metrics.primary={primary!r} is not in the metric suite {suite}."
            + did_you_mean(primary, suite)
            + " Choose one of the suite's metrics."
        )
    if not 0 < cfg.threshold < 1:
        raise ConfigError(
            f"metrics.threshold must be a probability in (0, 1); got "
            f"{cfg.threshold!r}. E.g. metrics.threshold=0.5."
        )
    return suite, primary


def _name(context: JobContext, data_label: str) -> str:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(context.overrides)
    pairs = [(o.key_or_group, o.value()) for o in parsed]
    defaults = context.defaults

    def default_of(key: str) -> Any:
        from omegaconf import OmegaConf

        if key in context.choices:
            return None
        if defaults is None:
            return object()
        return OmegaConf.select(defaults, key.lstrip("+~"), default=object())

    return run_name(
        context.choices.get("model", "model"), data_label, pairs, default_of
    )


def run_job(cfg: Any, context: JobContext | None = None) -> float:
    """Run one experiment and return its validation primary metric.

    The returned value lets Hydra sweepers (Optuna) optimise the run.
    """
    context = context or JobContext.from_hydra()
    plan = plan_run(cfg, context)
    _seed_everything(int(cfg.seed))
    uri = tracking.tracking_uri(cfg.tracking.uri)
    client = tracking.client_for(uri)
    experiment_id = tracking.ensure_experiment(client, cfg.tracking.experiment, uri)
    tracking.close_stale_runs(client, experiment_id, once=True)
    run_id, artifact_uri = _open_run(client, experiment_id, plan)
    context.run_id, context.run_name, context.primary = run_id, plan.name, plan.primary
    _write_config_files(plan)
    with _guard(client, run_id, context.output_dir):
        outcome = _train_and_log(client, (run_id, artifact_uri), plan, cfg)
    _print_summary(plan, run_id, experiment_id, uri, outcome)
    return float(outcome.values.get(f"val/{plan.primary}", math.nan))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)


def _metric_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The metric settings that change what a metric's value means."""
    metrics = config["metrics"]
    return {k: metrics[k] for k in ("zero_division", "threshold", "tune_threshold")}


def _open_run(client: Any, experiment_id: str, plan: Plan) -> tuple[str, str]:
    """Create the run with its tags and params; its id and artifact URI."""
    from mlflow.entities import Param

    from runner.metrics import DEFINITIONS_VERSION, suite_fingerprint

    tags = {
        **tracking.base_tags(),
        **{f"runner.choice.{g}": c for g, c in plan.context.choices.items()},
        "runner.config_hash": tracking.config_hash(plan.config),
        "runner.data_digest": plan.data.digest,
        "runner.data_source": plan.data.source,
        "runner.task": plan.data.task,
        "runner.primary_metric": plan.primary,
        "runner.metrics_version": DEFINITIONS_VERSION,
        "runner.metrics_fingerprint": suite_fingerprint(
            plan.suite, _metric_settings(plan.config)
        ),
        "runner.output_dir": str(plan.context.output_dir),
        "runner.overrides": " ".join(plan.context.overrides),
        **_sweep.job_tags(),
        **plan.context.extra_tags,
    }
    if plan.data.file_sha256:
        tags["runner.data_file_sha256"] = plan.data.file_sha256
    if plan.data.positive_label is not None:
        tags["runner.positive_label"] = str(plan.data.positive_label)
    if plan.context.job_num is not None:
        tags["runner.job_num"] = str(plan.context.job_num)
    run = client.create_run(experiment_id, run_name=plan.name, tags=tags)
    params = tracking.param_values(plan.config)
    params["dataset.rows"] = str(len(plan.data.y))
    client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    log.info("Opened run %s <name=%s>", run.info.run_id, plan.name)
    return str(run.info.run_id), str(run.info.artifact_uri)


class _Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM."""


@contextmanager
def _guard(client: Any, run_id: str, output_dir: Path) -> Iterator[None]:
    """End the run FINISHED, FAILED (on error) or KILLED (on SIGTERM/Ctrl-C)."""

    def on_term(signum: int, frame: Any) -> None:
        raise _Terminated(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except (_Terminated, KeyboardInterrupt) as exc:
        try:
            client.set_tag(run_id, "runner.error", f"interrupted: {exc!r}")
            client.log_artifacts(run_id, str(output_dir / "artifacts"))
        finally:
            client.set_terminated(run_id, status="KILLED")
        raise
    except BaseException as exc:
        _log_failure(client, run_id, output_dir, exc)
        raise
    else:
        client.set_terminated(run_id, status="FINISHED")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _log_failure(
    client: Any, run_id: str, output_dir: Path, exc: BaseException
) -> None:
    """Tag and log the error, with the artifacts written so far.

    The config files are among them (written when the run opened), so a
    failed run can be rerun from its id like any other.
    """
    text = "".join(traceback.format_exception(exc))
    try:
        client.set_tag(run_id, "runner.error", f"{type(exc).__name__}: {exc}"[:5000])
        artifacts = output_dir / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "error.txt").write_text(text)
        client.log_artifacts(run_id, str(artifacts))
    finally:
        client.set_terminated(run_id, status="FAILED")
    log.error("Run %s FAILED: %s", run_id, exc)


@dataclass
class Outcome:
    """What a finished fit produced, for logging and the summary."""

    values: dict[str, float]
    diagnostics: list[Any]
    metric_warnings: list[str]


def _train_and_log(client: Any, run: tuple[str, str], plan: Plan, cfg: Any) -> Outcome:
    from runner._preprocess import build_pipeline

    run_id, artifact_uri = run
    X, parts = plan.data.X, plan.split.parts()
    pipe = build_pipeline(X, plan.spec, cfg.dataset.preprocess)
    log.info("Fitting %s on %d rows", plan.spec.cls.__name__, len(plan.split.train))
    pipe.fit(X.iloc[plan.split.train], plan.data.y.iloc[plan.split.train])

    outputs = _outputs(pipe, plan)
    threshold = _threshold(outputs, plan, cfg)
    evaluations, predictions = {}, {}
    for part in SPLITS:
        pred = _predict(outputs, plan, parts[part], threshold)
        predictions[part] = pred
        evaluations[part] = _evaluate(plan, pred, float(cfg.metrics.zero_division))
    values = {
        f"{part}/{key}": float(v)
        for part, ev in evaluations.items()
        for key, v in ev.values.items()
    }
    diagnostics: list[Any] = []
    if cfg.diagnostics.enabled:
        from runner._diagnose import diagnose

        diagnostics, extra = diagnose(plan, cfg, evaluations)
        values.update(extra)
    if plan.data.task == "binary":
        values["threshold"] = threshold
    warnings = [
        f"{part}/{w.metric}: {w.cause} (logged {w.value}; set {w.setting})"
        for part, ev in evaluations.items()
        for w in ev.warnings
    ]
    _log_metrics(client, run_id, values, diagnostics, warnings)
    artifacts = _write_artifacts(plan, cfg, evaluations, predictions, values)
    from runner import _artifacts as art

    art.write_json(artifacts / "diagnostics.json", [d.as_dict() for d in diagnostics])
    if cfg.tracking.plots:
        _draw(artifacts, plan, predictions["test"], evaluations["test"])
    tracking.log_artifacts(client, artifact_uri, artifacts)
    if cfg.tracking.log_model:
        _log_model(client, run_id, pipe)
    return Outcome(values, diagnostics, warnings)


def _draw(folder: Path, plan: Plan, test: Predictions, evaluation: Any) -> None:
    """Draw the pictures; matplotlib is imported only here."""
    from runner._plots import draw_all

    draw_all(
        folder,
        plan.data.task,
        plan.name,
        plan.data.positive_label,
        test,
        evaluation.confusion,
    )


def _threshold(outputs: Outputs, plan: Plan, cfg: Any) -> float:
    """The configured threshold, or one tuned on the validation rows only."""
    tune = cfg.metrics.tune_threshold
    if tune is None or plan.data.task != "binary" or not outputs.proba:
        return float(cfg.metrics.threshold)
    from runner.metrics import tune_threshold

    val = _predict(outputs, plan, plan.split.val, float(cfg.metrics.threshold))
    assert val.scores is not None
    chosen = float(
        tune_threshold(val.y_true == plan.data.positive_label, val.scores, tune)
    )
    log.info(
        "Tuned threshold on validation rows: %.4f <metrics.tune_threshold=%s>",
        chosen,
        tune,
    )
    return chosen


@dataclass
class Outputs:
    """The fitted pipeline's outputs for every row of the data.

    One call of each prediction method on all rows, then sliced per split:
    each call through the pipeline costs a few milliseconds of overhead
    whatever the number of rows, and a row's output does not depend on which
    other rows are predicted with it.
    """

    #: ``predict`` (regression, and classifiers without ``predict_proba``).
    labels: np.ndarray | None
    #: Class probabilities or decision scores, columns in ``data.classes``
    #: order (one column of scores for a binary decision function).
    scores: np.ndarray | None
    proba: bool


def _outputs(pipe: Any, plan: Plan) -> Outputs:
    X = plan.data.X
    if plan.data.task == "regression":
        return Outputs(pipe.predict(X), None, False)
    model_classes = list(pipe.classes_)
    classes = plan.data.classes
    assert classes is not None
    if hasattr(pipe, "predict_proba"):
        return Outputs(
            None, _align(pipe.predict_proba(X), model_classes, classes), True
        )
    scores = pipe.decision_function(X)
    if plan.data.task == "binary":
        # decision_function scores classes_[1]; flip for the declared positive.
        scores = scores if model_classes[1] == plan.data.positive_label else -scores
    else:
        scores = _align(scores, model_classes, classes)
    return Outputs(pipe.predict(X), scores, False)


def _predict(
    outputs: Outputs, plan: Plan, rows: np.ndarray, threshold: float
) -> Predictions:
    y_true = plan.data.y.iloc[rows].to_numpy()
    if plan.data.task == "regression":
        assert outputs.labels is not None
        return Predictions(y_true, outputs.labels[rows], None, [], False)
    classes = plan.data.classes
    assert classes is not None and outputs.scores is not None
    scores = outputs.scores[rows]
    if not outputs.proba:
        assert outputs.labels is not None
        names = [f"score_{c}" for c in classes]
        if plan.data.task == "binary":
            names = [f"score_{plan.data.positive_label}"]
        return Predictions(y_true, outputs.labels[rows], scores, names, False)
    if plan.data.task == "binary":
        pos = classes.index(plan.data.positive_label)
        score = scores[:, pos]
        y_pred = np.where(
            score >= threshold, plan.data.positive_label, classes[1 - pos]
        )
        names = [f"proba_{plan.data.positive_label}"]
        return Predictions(y_true, y_pred.astype(object), score, names, True)
    y_pred = np.asarray(classes, dtype=object)[np.argmax(scores, axis=1)]
    return Predictions(y_true, y_pred, scores, [f"proba_{c}" for c in classes], True)


def _align(matrix: np.ndarray, have: list[Any], want: list[Any]) -> np.ndarray:
    """Columns of ``matrix`` (for classes ``have``) in the order ``want``."""
    if have == want:
        return matrix
    out = np.zeros((matrix.shape[0], len(want)))
    for j, label in enumerate(have):
        out[:, want.index(label)] = matrix[:, j]
    return out


def _evaluate(plan: Plan, pred: Predictions, zero_division: float) -> Any:
    from runner.metrics import evaluate

    return evaluate(
        plan.data.task,
        pred.y_true,
        pred.y_pred,
        classes=plan.data.classes,
        positive_label=plan.data.positive_label,
        scores=pred.scores,
        scores_are_proba=pred.scores_are_proba,
        suite=plan.suite,
        zero_division=zero_division,
    )


def _log_metrics(
    client: Any,
    run_id: str,
    values: dict[str, float],
    diagnostics: list[Any],
    warnings: list[str],
) -> None:
    import time

    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in values.items()]
    tags = []
    for d in diagnostics:
        tags.append(RunTag(f"diagnostic.{d.name}", d.status))
        tags.append(RunTag(f"diagnostic.{d.name}.reason", d.reason[:5000]))
    # Undefined metrics (0/0, one class, constant target): which, why, and
    # the setting that chose the logged fallback.
    tags.append(RunTag("runner.metric_warnings", str(len(warnings))))
    if warnings:
        tags.append(RunTag("runner.metric_warnings.text", "\n".join(warnings)[:7900]))
    client.log_batch(run_id, metrics=metrics, tags=tags)


def _write_config_files(plan: Plan) -> None:
    """What a rerun reads: the resolved config, the overrides, the choices."""
    from runner import _artifacts as art

    folder = plan.context.output_dir / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    art.write_yaml(folder / "config.yaml", plan.config)
    art.write_yaml(folder / "overrides.yaml", list(plan.context.overrides))
    art.write_yaml(folder / "choices.yaml", dict(plan.context.choices))


def _write_artifacts(
    plan: Plan,
    cfg: Any,
    evaluations: dict[str, Any],
    predictions: dict[str, Predictions],
    values: dict[str, float],
) -> Path:
    from runner import _artifacts as art
    from runner.metrics import DEFINITIONS_VERSION

    folder = plan.context.output_dir / "artifacts"
    art.write_json(
        folder / "metrics.json",
        {
            "task": plan.data.task,
            "positive_label": plan.data.positive_label,
            "classes": plan.data.classes,
            "definitions_version": DEFINITIONS_VERSION,
            "primary": plan.primary,
            "metrics": values,
            "warnings": {
                part: [vars(w) for w in ev.warnings] for part, ev in evaluations.items()
            },
        },
    )
    test = predictions["test"]
    art.write_predictions(
        folder / "predictions.csv",
        plan.data.row_ids[plan.split.test],
        test.y_true,
        test.y_pred,
        test.scores,
        test.score_names,
    )
    confusion = evaluations["test"].confusion
    if confusion is not None:
        (folder / "confusion_matrix.csv").write_text(confusion.to_csv())
    return folder


def _log_model(client: Any, run_id: str, pipe: Any) -> None:
    """Log the fitted pipeline as an MLflow model in the skops format.

    Requirements are given, not inferred (inference costs 6-10 s a model),
    and the skops trusted types are the ones this very pipeline holds.
    """
    import mlflow
    import mlflow.sklearn
    import skops.io as sio

    from runner._requirements import model_requirements

    trusted = sio.get_untrusted_types(data=sio.dumps(pipe))
    mlflow.set_tracking_uri(client.tracking_uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.sklearn.log_model(
            pipe,
            name="model",
            serialization_format="skops",
            skops_trusted_types=trusted,
            pip_requirements=model_requirements(),
        )


def _print_summary(
    plan: Plan, run_id: str, experiment_id: str, uri: str, outcome: Outcome
) -> None:
    values = outcome.values
    shown = [m for m in HEADLINE[plan.data.task] if f"test/{m}" in values]
    metrics = "  ".join(f"{m}={values[f'test/{m}']:.4f}" for m in shown)
    print(f"run      {plan.name}")
    print(f"run id   {run_id}")
    if plan.data.positive_label is not None:
        metrics += f"  (positive class {plan.data.positive_label!r})"
    print(f"test     {metrics}")
    if f"val/{plan.primary}" in values:
        print(f"primary  val/{plan.primary}={values[f'val/{plan.primary}']:.4f}")
    for d in outcome.diagnostics:
        if d.status == "warn":
            print(f"warn     {d.name}: {d.reason}")
    for text in outcome.metric_warnings:
        print(f"metric   {text}")
    print(f"open     mlflow ui --backend-store-uri {uri}")
    print(f"         http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run_id}")
