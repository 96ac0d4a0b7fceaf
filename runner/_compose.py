"""Compose each distinct config once per command line, then vary its values.

Hydra composes a job's config from scratch for every job: it reads and
parses the YAML files, builds the defaults tree and merges every file into the
schema, about 75 ms each on two cores.  A sweep composes each job three times
(the runner's pre-flight, the basic sweeper's legality check, then the
launcher), so in a sweep of fast fits composition was most of the time.

Jobs of a sweep differ mostly in values (``model.C=0.1``), not in which files
are composed (``model=rf``).  :class:`CachingConfigLoader` composes the config
once for each distinct set of *structural* overrides (config group choices,
and anything that changes the search path) with Hydra's own loader, keeps that
composition, and builds each job's config from a copy of it: the job's value
overrides are applied with Hydra's own override code, and the fields Hydra
derives from the overrides (``hydra.overrides``, ``override_dirname``,
``env_set``, and ``runtime.cwd``) are derived again.  The result equals what
Hydra composes from scratch, which ``tests/test_compose_cache.py`` checks on
the whole YAML text, errors included.

The loader is installed by :func:`install` for the runner's processes only.
"""

from __future__ import annotations

import copy
import os
import pickle
import uuid
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

#: Caches of this process, by generation: compositions, group existence and
#: parsed overrides.  One generation is one command line (:func:`install`),
#: during which the config files are taken not to change; a launcher worker
#: receives the generation with the loader, so that its jobs share the cache.
_BASES: dict[tuple[Any, ...], DictConfig | bytes] = {}
_GROUPS: dict[tuple[Any, ...], bool] = {}
_REPOS: dict[tuple[Any, ...], Any] = {}
_PARSED: dict[str, Override] = {}
_generation = uuid.uuid4().hex


class CachingConfigLoader(ConfigLoaderImpl):
    """Hydra's config loader with compositions cached by structural overrides."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runner_generation = _generation

    def _cache_key(self, *parts: Any) -> tuple[Any, ...]:
        from hydra.core.utils import JobRuntime

        # Hydra names the job from its runtime when the config does not.
        job = JobRuntime.instance().get("name")
        path = tuple((p.provider, p.path) for p in self.config_search_path.get_path())
        return (self._runner_generation, path, job, *parts)

    def load_configuration(
        self,
        config_name: str | None,
        overrides: list[str],
        run_mode: RunMode,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> DictConfig:
        """Compose like Hydra, reusing the composition of the same structure."""
        parsed = self._parse(overrides)
        if run_mode != RunMode.RUN or any(_changes_search_path(o) for o in parsed):
            # The sweep's own master config, or another set of config sources:
            # composed by Hydra as given.
            return super().load_configuration(
                config_name, overrides, run_mode, from_shell, validate_sweep_overrides
            )

        if validate_sweep_overrides:
            self.validate_sweep_overrides_legal(parsed, run_mode, from_shell)
        structural: list[Override] = []
        values: list[Override] = []
        for override in parsed:
            is_choice = self._is_structural(config_name, override)
            (structural if is_choice else values).append(override)
        base = self._base(config_name, structural, run_mode)

        cfg = _copy(base)
        try:
            self._apply_overrides_to_config(values, cfg)
            _derive_override_fields(cfg, parsed)
        except OmegaConfBaseException as exc:  # as Hydra's own loader wraps it
            raise ConfigCompositionException() from exc
        return cfg

    def _base(
        self, config_name: str | None, structural: list[Override], run_mode: RunMode
    ) -> DictConfig | bytes:
        """The composition of the structural overrides alone (see :func:`_copy`)."""
        lines = [str(o.input_line) for o in structural]
        key = self._cache_key(config_name, run_mode, tuple(lines))
        if key not in _BASES:
            _forget_other_generations(self._runner_generation)
            cfg = super().load_configuration(config_name, lines, run_mode)
            try:
                _BASES[key] = pickle.dumps(cfg, pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError):
                # A schema class that pickle cannot find by name (a launcher
                # worker holds copies of the plugins' config classes).
                _BASES[key] = cfg
        return _BASES[key]

    def _parse(self, overrides: list[str]) -> list[Override]:
        missing = [o for o in overrides if o not in _PARSED]
        if missing:
            parser = OverridesParser.create()
            for text, override in zip(
                missing, parser.parse_overrides(missing), strict=True
            ):
                _PARSED[text] = override
        return [_PARSED[o] for o in overrides]

    def _is_structural(self, config_name: str | None, override: Override) -> bool:
        """Whether Hydra reads this override as a config group choice.

        The same rule as Hydra's defaults list: an override of an existing
        group is a choice unless its value is a dict.  Overrides with a
        package (``group@pkg=...``) are left to Hydra as well.
        """
        if override.package is not None:
            return True
        key = self._cache_key(config_name, override.key_or_group)
        if key not in _GROUPS:
            repo = self._repository(config_name)
            _GROUPS[key] = repo.group_exists(override.key_or_group)
        return _GROUPS[key] and not isinstance(override.value(), dict)

    def _repository(self, config_name: str | None) -> Any:
        # The primary config's own hydra.searchpath may add config sources:
        # ask the repository Hydra composes this config from.
        key = self._cache_key(config_name)
        if key not in _REPOS:
            _, _REPOS[key] = self._parse_overrides_and_create_caching_repo(
                config_name, []
            )
        return _REPOS[key]


def _forget_other_generations(generation: str) -> None:
    for cache in (_BASES, _GROUPS, _REPOS):
        for key in [k for k in cache if k[0] != generation]:
            del cache[key]


def _copy(base: DictConfig | bytes) -> DictConfig:
    """A fresh copy of a cached composition.

    A pickle round trip copies an OmegaConf tree 2x faster than deepcopy.
    """
    if isinstance(base, bytes):
        cfg = pickle.loads(base)
        assert isinstance(cfg, DictConfig)
        return cfg
    return copy.deepcopy(base)


def _changes_search_path(override: Override) -> bool:
    return override.get_key_element() == "hydra.searchpath"


def _derive_override_fields(cfg: DictConfig, parsed: list[Override]) -> None:
    """Fill in what Hydra derives from the whole list of overrides (and cwd)."""
    hydra = cfg.hydra
    hydra.runtime.cwd = os.getcwd()
    hydra.overrides.hydra = [o.input_line for o in parsed if o.is_hydra_override()]
    task = [o for o in parsed if not o.is_hydra_override()]
    hydra.overrides.task = [o.input_line for o in task]
    with open_dict(hydra):
        for key in hydra.job.env_copy:
            hydra.job.env_set[key] = os.environ[key]
    dirname = hydra.job.config.override_dirname
    hydra.job.override_dirname = get_overrides_dirname(
        overrides=task,
        kv_sep=dirname.kv_sep,
        item_sep=dirname.item_sep,
        exclude_keys=[str(k) for k in dirname.exclude_keys],
    )


def install() -> None:
    """Make Hydra create a :class:`CachingConfigLoader` in this process.

    Each call starts a new generation: loaders created from then on (the
    pre-flight's and Hydra's own) compose the config files afresh once.
    """
    import hydra._internal.hydra as hydra_module

    global _generation
    _generation = uuid.uuid4().hex
    hydra_module.ConfigLoaderImpl = CachingConfigLoader  # type: ignore[misc]
