"""Check a command line before Hydra starts any job.

Hydra composes each job's config only when that job starts, so in a sweep a
misspelled choice in job 5 would surface after jobs 1-4 trained.  The
pre-flight composes every job of the command line up front (for large sweeps,
every swept value at least once), and runs the same checks a job runs before
it opens an MLflow run: schema, mandatory keys, model parameters, data and
split.  Errors are rewritten into the runner's three-part messages.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from runner._paths import conf_dir
from runner.errors import ConfigError, did_you_mean

# Hydra flags after which the command does not run jobs (help, printing).
_NO_JOB_FLAGS = {
    "--help",
    "-h",
    "--hydra-help",
    "--version",
    "--cfg",
    "-c",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--resolve",
    "--package",
    "-p",
    "--experimental-rerun",
}
_FLAGS_WITH_VALUE = {
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
}
# Past this many jobs, each swept value is checked once instead of every job.
_MAX_FULL_COMBOS = 64


def preflight(argv: list[str]) -> None:
    """Raise a :class:`~runner.errors.RunnerError` if any job would fail early."""
    overrides = _overrides(argv)
    if overrides is None:
        return
    parsed = _parse(overrides)
    _check_choices(parsed)
    combos = _combinations(parsed)
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    try:
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            first = _compose(combos[0])
            flag = bool({"-m", "--multirun"} & set(argv))
            multirun = flag or str(first.hydra.mode) == "RunMode.MULTIRUN"
            preset = _sweeper_params(first, parsed) if multirun else []
            if preset:
                _check_choices(preset)
                combos = _combinations(parsed + preset)
            for combo in combos:
                _check_job(combo)
    finally:
        GlobalHydra.instance().clear()


def _sweeper_params(cfg: Any, parsed: list[Any]) -> list[Any]:
    """Sweep overrides a config sets in ``hydra.sweeper.params`` (presets).

    Keys given on the command line win, as they do in Hydra's sweeper.
    """
    params = cfg.hydra.sweeper.get("params") or {}
    given = {o.key_or_group for o in parsed}
    texts = [f"{k}={v}" for k, v in params.items() if k not in given]
    return _parse(texts)


def _overrides(argv: list[str]) -> list[str] | None:
    out: list[str] = []
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg in _NO_JOB_FLAGS or arg.split("=")[0] in _NO_JOB_FLAGS:
            return None
        if arg in _FLAGS_WITH_VALUE:
            return None  # another config source: let Hydra handle it as given
        if arg in ("-m", "--multirun"):
            continue
        if arg.startswith("-"):
            return None
        out.append(arg)
    return out


def _parse(overrides: list[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    result = []
    for text in overrides:
        try:
            result.extend(parser.parse_overrides([text]))
        except OverrideParseException as exc:
            key, _, value = text.partition("=")
            raise ConfigError(
                f"cannot parse the override {text!r}: {exc.message.splitlines()[0]}."
                f" Values with '=', '#', spaces or brackets must be quoted for "
                f"Hydra inside shell quotes: \"{key}='{value}'\"."
            ) from exc
    return result


def groups() -> dict[str, list[str]]:
    """Config groups under ``conf/`` and the choices each offers."""
    out = {}
    for folder in sorted(p for p in conf_dir().iterdir() if p.is_dir()):
        out[folder.name] = sorted(f.stem for f in folder.glob("*.yaml"))
    return out


def _check_choices(parsed: list[Any]) -> None:
    available = groups()
    for override in parsed:
        key = override.key_or_group
        if key not in available or override.is_delete():
            continue
        for value in _values(override):
            if value in available[key] or value == "null":
                continue
            raise ConfigError(
                f"{key}={value!r} is not a choice of the '{key}' group; the "
                f"choices are {available[key]}.{did_you_mean(value, available[key])}"
                f" Use {key}=<choice>, or add conf/{key}/{value}.yaml."
            )


def _values(override: Any) -> list[str]:
    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    try:
        return list(override.sweep_string_iterator())
    except Exception:  # interval sweeps (Optuna) have no finite list of values
        return []


def _combinations(parsed: list[Any]) -> list[list[str]]:
    options = []
    for override in parsed:
        prefix = override.get_key_element()
        if override.key_or_group.startswith("hydra") and override.is_sweep_override():
            continue  # Hydra's own settings: not a value of the jobs' config
        values = _values(override)
        if not values:
            continue
        options.append([f"{prefix}={v}" for v in values])
    total = 1
    for values in options:
        total *= len(values)
    if total <= _MAX_FULL_COMBOS:
        return [list(c) for c in itertools.product(*options)]
    first = [values[0] for values in options]
    combos = [first]
    for i, values in enumerate(options):
        for value in values[1:]:
            combos.append(first[:i] + [value] + first[i + 1 :])
    return combos


def _check_job(overrides: list[str]) -> None:
    from runner._job import JobContext, plan_run

    cfg = _compose(overrides)
    choices = {
        k: str(v)
        for k, v in cfg.hydra.runtime.choices.items()
        if not k.startswith(("hydra/", "schema")) and v is not None
    }
    job_overrides = [o for o in overrides if not o.startswith("hydra")]
    from omegaconf import open_dict

    with open_dict(cfg):
        del cfg["hydra"]
    context = JobContext(choices, job_overrides, Path("."))
    plan_run(cfg, context)


def _compose(overrides: list[str]) -> Any:
    from hydra import compose
    from hydra.errors import ConfigCompositionException

    try:
        return compose("config", overrides=overrides, return_hydra_config=True)
    except ConfigCompositionException as exc:
        raise _composition_error(exc, overrides) from exc


def _composition_error(exc: Exception, overrides: list[str]) -> ConfigError:
    from hydra import compose

    text = str(exc)
    cause = exc.__cause__
    detail = str(cause) if cause is not None else text
    key_match = re.search(r"Could not override '([^']+)'", text)
    if key_match and re.search(r"Key '[^']+' (is )?not in", detail):
        key = key_match.group(1)
        available = groups()
        group_only = [o for o in overrides if o.split("=")[0] in available]
        base = compose("config", overrides=group_only)
        keys = _leaf_keys(base)
        given = next((o for o in overrides if o.split("=")[0] == key), key)
        return ConfigError(_unknown_key_message(key, given, keys, base))
    type_match = re.search(r"full_key: (\S+)", detail)
    if type_match:
        key = type_match.group(1)
        first = detail.splitlines()[0]
        return ConfigError(
            f"{key}: {first}. Give a value of the right type, e.g. see "
            f"`python -m runner --cfg job` for the current value of {key}."
        )
    return ConfigError(f"the config does not compose: {text}. {detail}")


def _unknown_key_message(key: str, given: str, keys: list[str], base: Any) -> str:
    head, _, rest = key.partition(".")
    heads = sorted({k.split(".")[0] for k in keys})
    if head not in heads:
        close = did_you_mean(head, heads)
        fixed = close and rest and f" Did you mean '{close.split(chr(39))[1]}.{rest}'?"
        return (
            f"unknown config key '{key}' (in override {given!r}): the config has "
            f"no top-level key '{head}'.{fixed or close} Its top-level keys are "
            f"{heads}."
        )
    if head == "model":
        value = given.partition("=")[2]
        return (
            f"unknown config key '{key}' (in override {given!r}): the model config "
            f"has no key '{rest}'.{did_you_mean(key, keys)} Its keys are "
            f"{[k for k in keys if k.startswith('model.')]}. To pass another "
            f"constructor argument of {base.model.get('_classifier_')}, add it "
            f"with '+': +{key}={value} (checked against the estimator)."
        )
    section = [k for k in keys if k.startswith(head + ".")]
    return (
        f"unknown config key '{key}' (in override {given!r})."
        f"{did_you_mean(key, keys)} The keys under '{head}' are {section}."
    )


def _leaf_keys(cfg: Any, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    keys = []
    for key in cfg.keys():
        if key == "hydra":
            continue
        value = cfg._get_node(key)
        full = f"{prefix}{key}"
        if isinstance(value, DictConfig):
            keys.extend(_leaf_keys(value, full + "."))
        else:
            keys.append(full)
    return keys
