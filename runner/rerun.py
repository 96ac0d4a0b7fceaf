"""Rerun a logged run from its saved config: ``python -m runner.rerun RUN``.

``RUN`` is an MLflow run id or a Hydra run folder.  The saved, resolved config
(``config.yaml``, with ``choices.yaml`` and ``overrides.yaml``) is loaded as
*data*: nothing from today's ``conf/`` defaults enters it, interpolations that
call resolvers are refused, and every class path it names must be admitted by
this machine's allow-list before anything is imported.  The rerun is a new
MLflow run tagged ``runner.rerun_of``; every metric is compared with the
original's and ``runner.reproduced`` records whether all matched exactly.

Overrides (``model.max_depth=3``) change keys of the saved config and are
recorded on the new run; group choices (``model=logreg``) are refused, since
they would compose today's defaults.

Exit status: 0 when the rerun reproduced the original (or overrides were given,
so differences are expected), 1 when it did not or the run failed, 2 on bad
input.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, RunnerError

log = logging.getLogger("runner.rerun")

#: Keys of a config that name a Python class to import.
CLASS_KEYS = ("_target_", "_classifier_", "_regressor_")
#: Prefixes admitted without configuration: scikit-learn and the runner itself.
DEFAULT_ALLOWED = ("sklearn.", "runner.")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_RESOLVER_CALL = re.compile(r"\$\{\s*[\w.]+\s*:")
_FILES = ("config.yaml", "choices.yaml", "overrides.yaml")


@dataclass
class Source:
    """The run to repeat: its saved files and, when found, its MLflow run."""

    config: dict[str, Any]
    choices: dict[str, str]
    overrides: list[str]
    run: Any = None
    label: str = ""


@dataclass
class Comparison:
    """Metrics of the original and of the rerun, key by key."""

    equal: list[str] = field(default_factory=list)
    differ: list[tuple[str, float | None, float | None]] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not self.differ


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m runner.rerun``.

    Parameters
    ----------
    argv : list of str, default=None
        ``RUN [--tracking-uri URI] [--allow PREFIX] [OVERRIDE ...]``; None
        reads ``sys.argv``.

    Returns
    -------
    int
        0 reproduced (or changed by overrides), 1 not reproduced or failed,
        2 bad input.
    """
    args = _parser().parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    from runner._cli import register
    from runner.tracking import client_for, tracking_uri

    register()
    uri = tracking_uri(args.tracking_uri)
    client = client_for(uri)
    try:
        source = load_source(args.run, client, uri)
        allowed = allowed_prefixes(args.allow)
        check_safe(source.config, allowed)
        cfg = build_config(source.config, args.overrides, uri)
    except RunnerError as exc:
        print(f"runner.rerun: error: {exc}", file=sys.stderr)
        return 2
    return _rerun(client, uri, source, cfg, args.overrides)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runner.rerun",
        description="Re-execute a logged run from its saved config and compare "
        "every metric with the original's.",
    )
    parser.add_argument(
        "run",
        metavar="RUN",
        help="MLflow run id, or a Hydra run folder (outputs/runs/...)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="key=value changes to the saved config, e.g. seed=1",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="store of the original run, and of the rerun "
        "(default: the runner's own, outputs/mlflow.db)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PREFIX",
        help="also admit classes under PREFIX (e.g. xgboost.)",
    )
    return parser


# --------------------------------------------------------------------------
# Loading the saved run


def load_source(run: str, client: Any, uri: str) -> Source:
    """The saved config, choices and overrides of ``run`` (id or folder).

    Parameters
    ----------
    run : str
        An MLflow run id or a Hydra run folder.
    client : MlflowClient
        Client of the store the run is looked up in.
    uri : str
        That store's URI, for messages.

    Returns
    -------
    Source
        The saved files' contents and the original run, if found.

    Raises
    ------
    ConfigError
        If ``run`` is neither a run of the store nor a run folder, or its
        saved config is missing.
    """
    folder = Path(run).expanduser()
    if folder.is_dir():
        return _from_folder(folder.resolve(), client)
    if not _RUN_ID.match(run):
        raise ConfigError(
            f"RUN {run!r} is neither a folder nor an MLflow run id. Give a run "
            "id (32 hex digits, shown as 'run id' after each run) or a Hydra run "
            "folder such as outputs/runs/<date>/<time>."
        )
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_run(run)
    except MlflowException as exc:
        raise ConfigError(
            f"run {run!r} is not in the store {uri}. Pass the store it was "
            "logged to with --tracking-uri URI, or its run folder instead."
        ) from exc
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name in _FILES:
            try:
                paths[name] = Path(client.download_artifacts(run, name, tmp))
            except Exception as exc:  # MLflow raises several kinds here
                raise ConfigError(
                    f"run {run!r} has no {name} artifact, so its config cannot "
                    "be restored; only runs logged by the runner can be rerun. "
                    "Start a new run with python -m runner instead."
                ) from exc
        return _source(paths, found, f"run {run}")


def _from_folder(folder: Path, client: Any) -> Source:
    saved = folder / "artifacts"
    paths = {name: saved / name for name in _FILES}
    if not all(p.is_file() for p in paths.values()):
        hydra = folder / ".hydra"
        if not (hydra / "config.yaml").is_file():
            raise ConfigError(
                f"{str(folder)!r} is not a run folder: it has neither "
                "artifacts/config.yaml nor .hydra/config.yaml. Give the folder "
                "of one run (outputs/runs/<date>/<time>, or one job of "
                "outputs/multirun/...), or an MLflow run id."
            )
        paths = {
            "config.yaml": hydra / "config.yaml",
            "overrides.yaml": hydra / "overrides.yaml",
            "hydra.yaml": hydra / "hydra.yaml",
        }
    return _source(paths, _run_of_folder(client, folder), f"folder {folder}")


def _source(paths: dict[str, Path], run: Any, label: str) -> Source:
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(OmegaConf.load(paths["config.yaml"]))
    overrides = OmegaConf.to_container(OmegaConf.load(paths["overrides.yaml"]))
    if "choices.yaml" in paths:
        choices = OmegaConf.to_container(OmegaConf.load(paths["choices.yaml"]))
    else:
        hydra = OmegaConf.load(paths["hydra.yaml"]).hydra.runtime.choices
        choices = {
            k: v
            for k, v in hydra.items()
            if not k.startswith(("hydra/", "schema")) and v is not None
        }
    assert isinstance(config, dict) and isinstance(overrides, list)
    assert isinstance(choices, dict)
    return Source(
        config={str(k): v for k, v in config.items()},
        choices={str(k): str(v) for k, v in choices.items()},
        overrides=[str(o) for o in overrides],
        run=run,
        label=label,
    )


def _run_of_folder(client: Any, folder: Path) -> Any:
    """The run logged from ``folder``, searched in every experiment."""
    ids = [e.experiment_id for e in client.search_experiments()]
    if not ids:
        return None
    runs = client.search_runs(
        ids, filter_string=f"tags.`runner.output_dir` = '{folder}'", max_results=5
    )
    return runs[0] if runs else None


# --------------------------------------------------------------------------
# A loaded config is data


def allowed_prefixes(extra: list[str]) -> list[str]:
    """Class-path prefixes this machine admits.

    Parameters
    ----------
    extra : list of str
        Prefixes given with ``--allow``.

    Returns
    -------
    list of str
        ``sklearn.``, ``runner.``, the ``allow_targets`` of today's
        ``conf/config.yaml`` and ``extra``, sorted.
    """
    from omegaconf import OmegaConf

    from runner._paths import conf_dir

    primary = OmegaConf.to_container(OmegaConf.load(conf_dir() / "config.yaml"))
    assert isinstance(primary, dict)
    configured = [str(p) for p in primary.get("allow_targets") or []]
    return sorted({*DEFAULT_ALLOWED, *configured, *extra})


def check_safe(config: dict[str, Any], allowed: list[str]) -> None:
    """Refuse a loaded config that would run code this machine did not admit.

    Parameters
    ----------
    config : dict
        The saved config, as loaded (nothing resolved or imported yet).
    allowed : list of str
        Class-path prefixes this machine admits (:func:`allowed_prefixes`).

    Raises
    ------
    ConfigError
        If a value calls a resolver (``${name:...}``), a class path
        (``_target_``, ``_classifier_``, ``_regressor_``) or an entry of the
        config's own ``allow_targets`` is outside ``allowed``.
    """
    hint = "If you trust the run, rerun it with --allow PREFIX for each prefix."
    for key, value in _walk(config):
        if isinstance(value, str) and _RESOLVER_CALL.search(value):
            raise ConfigError(
                f"the saved config sets {key}={value!r}, an interpolation that "
                "calls a resolver (code) when resolved; a saved config is data "
                "and may only hold plain values. Edit it out, or start a new run "
                "with python -m runner."
            )
        leaf = key.rsplit(".", 1)[-1]
        if leaf in CLASS_KEYS and value is not None:
            if not any(str(value).startswith(p) for p in allowed):
                raise ConfigError(
                    f"the saved config names the class {key}={value!r}, which "
                    f"this machine does not admit (allowed prefixes: {allowed}). "
                    + hint
                )
    for prefix in config.get("allow_targets") or []:
        if not any(str(prefix).startswith(p) for p in allowed):
            raise ConfigError(
                f"the saved config's allow_targets admits {prefix!r}, beyond this "
                f"machine's allowed prefixes {allowed}. " + hint
            )


def _walk(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_walk(value, f"{prefix}{key}."))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_walk(value, f"{prefix}{i}."))
    else:
        out.append((prefix[:-1], node))
    return out


def build_config(saved: dict[str, Any], overrides: list[str], uri: str) -> Any:
    """The saved config on the schema, with ``overrides`` applied.

    Parameters
    ----------
    saved : dict
        The saved, resolved config.
    overrides : list of str
        Key overrides in Hydra's syntax (``model.C=0.5``, ``+model.x=1``,
        ``~key``).
    uri : str
        Store the rerun logs to; set as ``tracking.uri`` when the saved one
        points elsewhere.

    Returns
    -------
    DictConfig
        The config :func:`runner._job.run_job` runs.

    Raises
    ------
    ConfigError
        If the saved config does not fit today's schema, or an override is a
        group choice, a sweep or does not parse.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from runner.schema import RunnerConfig

    try:
        cfg = OmegaConf.merge(OmegaConf.structured(RunnerConfig), saved)
    except OmegaConfBaseException as exc:
        raise ConfigError(
            f"the saved config does not fit this version of the runner: "
            f"{str(exc).splitlines()[0]}. Rerun it with the code that logged it "
            "(its runner.git_commit tag), e.g. in a checkout of that commit."
        ) from exc
    _apply_overrides(cfg, overrides)
    from runner.tracking import tracking_uri

    if tracking_uri(cfg.tracking.uri) != uri:
        cfg.tracking.uri = uri  # the rerun lands beside the original
    return cfg


def _apply_overrides(cfg: Any, overrides: list[str]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    from runner._preflight import groups

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(
            f"cannot parse the overrides {overrides}: {exc}. Write key=value; "
            "quote values with '=' or spaces for Hydra: \"key='a=b'\"."
        ) from exc
    group_names = set(groups())
    for override in parsed:
        key = override.key_or_group
        if key in group_names:
            raise ConfigError(
                f"the override {override.input_line!r} changes the group choice "
                f"'{key}', which would compose today's defaults into a rerun. "
                f"Override keys instead (e.g. {key}.<key>=...), or start a new run "
                f"with python -m runner {override.input_line}."
            )
        if override.is_sweep_override():
            raise ConfigError(
                f"the override {override.input_line!r} is a sweep; a rerun runs "
                "one job. Give one value, or sweep with python -m runner -m."
            )
        try:
            if override.is_delete():
                with open_dict(cfg):
                    parent, _, leaf = key.rpartition(".")
                    node = OmegaConf.select(cfg, parent) if parent else cfg
                    del node[leaf]
            elif override.is_add() or override.is_force_add():
                with open_dict(cfg):
                    OmegaConf.update(cfg, key, override.value(), merge=True)
            else:
                if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
                    raise ConfigError(
                        f"the override {override.input_line!r} names a key the "
                        "saved config does not have. Check the key (see the run's "
                        f"config.yaml), or add it with +{override.input_line}."
                    )
                OmegaConf.update(cfg, key, override.value(), merge=True)
        except OmegaConfBaseException as exc:
            raise ConfigError(
                f"the override {override.input_line!r} does not fit the config: "
                f"{str(exc).splitlines()[0]}. Give a value of the key's type."
            ) from exc


# --------------------------------------------------------------------------
# Running and comparing


def _rerun(
    client: Any, uri: str, source: Source, cfg: Any, overrides: list[str]
) -> int:
    from runner._job import JobContext, run_job
    from runner._naming import run_name
    from runner._paths import PROCESS_UID, runner_home

    original = source.run
    base = original.info.run_name if original is not None else "run"
    pairs = [(o.partition("=")[0], o.partition("=")[2]) for o in overrides]
    stamp = datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")
    output_dir = runner_home() / "outputs" / "reruns" / f"{stamp}-{PROCESS_UID}"
    tags = {
        "runner.rerun.source": source.label,
        "runner.rerun.overrides": " ".join(overrides),
    }
    if original is not None:
        tags["runner.rerun_of"] = original.info.run_id
    context = JobContext(
        choices=source.choices,
        overrides=[*source.overrides, *overrides],
        output_dir=output_dir,
        name=run_name(base, "rerun", pairs, lambda key: object()),
        extra_tags=tags,
    )
    try:
        run_job(cfg, context)
    except RunnerError as exc:
        print(f"runner.rerun: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(
            f"runner.rerun: the rerun failed: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    assert context.run_id is not None
    rerun = client.get_run(context.run_id)
    if original is None:
        log.warning(
            "No run logged from %s was found in %s: nothing to compare the rerun with.",
            source.label,
            uri,
        )
        return 0
    comparison = compare(original.data.metrics, rerun.data.metrics)
    warnings = provenance_warnings(original.data.tags, rerun.data.tags)
    for text in warnings:
        log.warning("%s", text)
    _record(client, rerun, comparison, warnings, output_dir)
    _report(original, rerun, comparison, warnings, changed=bool(overrides))
    return 0 if comparison.reproduced or overrides else 1


def compare(original: dict[str, float], rerun: dict[str, float]) -> Comparison:
    """Compare two runs' metrics exactly.

    Parameters
    ----------
    original, rerun : dict of str to float
        Metrics of the two runs.

    Returns
    -------
    Comparison
        Keys with equal values (NaN equals NaN) and keys that differ or are
        missing from one run.
    """
    result = Comparison()
    for key in sorted(set(original) | set(rerun)):
        a, b = original.get(key), rerun.get(key)
        same = (
            a is not None
            and b is not None
            and (a == b or (math.isnan(a) and math.isnan(b)))
        )
        if same:
            result.equal.append(key)
        else:
            result.differ.append((key, a, b))
    return result


def provenance_warnings(original: dict[str, str], rerun: dict[str, str]) -> list[str]:
    """What differs between the two runs' data, code and package versions.

    Parameters
    ----------
    original, rerun : dict of str to str
        Tags of the two runs (``runner.data_digest``, ``runner.git_commit``,
        ``runner.versions``, ...).

    Returns
    -------
    list of str
        One sentence per difference; empty when data, code and packages match.
    """
    out = []
    checks = (
        ("runner.data_digest", "the data differ (data digest)"),
        ("runner.data_file_sha256", "the data file differs (sha256)"),
        ("runner.git_commit", "the code differs (git commit)"),
    )
    for tag, what in checks:
        a, b = original.get(tag), rerun.get(tag)
        if a is not None and a != b:
            out.append(f"{what}: original {a}, rerun {b}")
    if original.get("runner.git_dirty") == "true":
        out.append(
            "the original ran from a work tree with uncommitted changes "
            "(runner.git_dirty=true): its code cannot be restored exactly"
        )
    try:
        old = json.loads(original.get("runner.versions", "{}"))
        new = json.loads(rerun.get("runner.versions", "{}"))
    except ValueError:
        old, new = {}, {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name) and old:
            out.append(
                f"package {name} differs: original {old.get(name)}, "
                f"rerun {new.get(name)}"
            )
    return out


def _record(
    client: Any, rerun: Any, comparison: Comparison, warnings: list[str], folder: Path
) -> None:
    run_id = rerun.info.run_id
    client.set_tag(run_id, "runner.reproduced", str(comparison.reproduced).lower())
    client.set_tag(run_id, "runner.rerun.differences", str(len(comparison.differ)))
    if warnings:
        client.set_tag(run_id, "runner.rerun.warnings", "; ".join(warnings)[:5000])
    path = folder / "rerun_comparison.json"
    path.write_text(
        json.dumps(
            {
                "reproduced": comparison.reproduced,
                "equal": comparison.equal,
                "differ": [
                    {"key": k, "original": a, "rerun": b}
                    for k, a, b in comparison.differ
                ],
                "warnings": warnings,
            },
            indent=2,
            default=str,
        )
    )
    client.log_artifact(run_id, str(path))


def _report(
    original: Any,
    rerun: Any,
    comparison: Comparison,
    warnings: list[str],
    changed: bool,
) -> None:
    n = len(comparison.equal) + len(comparison.differ)
    print(f"original {original.info.run_name}  ({original.info.run_id})")
    print(f"rerun    {rerun.info.run_name}  ({rerun.info.run_id})")
    if comparison.reproduced:
        print(f"reproduced exactly: all {n} metrics equal")
    else:
        # With overrides, differences are what the user asked to see.
        verdict = "changed by the overrides" if changed else "not reproduced"
        print(f"{verdict}: {len(comparison.differ)} of {n} metrics differ")
        for key, a, b in comparison.differ:
            print(f"  {key}: original {_fmt(a)}, rerun {_fmt(b)}")
    for text in warnings:
        print(f"warning  {text}")


def _fmt(value: float | None) -> str:
    return "missing" if value is None else repr(value)


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.exit(main())
