"""Compose each distinct config once per process, then vary only its values.

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
``env_set``) are derived again.  The result equals what Hydra composes from
scratch, which ``tests/test_compose_cache.py`` checks key by key.

The loader is installed by :func:`install` for the runner's processes only.
"""

from __future__ import annotations

import copy
import os
import pickle
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

# Fields of the loader that are a cache of this process, not its state.
_CACHES = ("_runner_bases", "_runner_groups", "_runner_parsed", "_runner_repos")


class CachingConfigLoader(ConfigLoaderImpl):
    """Hydra's config loader with compositions cached by structural overrides."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reset_caches()

    def _reset_caches(self) -> None:
        self._runner_bases: dict[tuple[Any, ...], DictConfig | bytes] = {}
        self._runner_groups: dict[tuple[str | None, str], bool] = {}
        self._runner_repos: dict[str | None, Any] = {}
        self._runner_parsed: dict[str, Override] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Launchers pickle the loader to their workers: send no cached configs.
        return {k: v for k, v in self.__dict__.items() if k not in _CACHES}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_caches()

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
        structural = [o for o in parsed if self._is_structural(config_name, o)]
        values = [o for o in parsed if not self._is_structural(config_name, o)]
        base = self._base(config_name, structural, run_mode, from_shell)

        cfg = _copy(base)
        try:
            self._apply_overrides_to_config(values, cfg)
            _derive_override_fields(cfg, parsed)
        except OmegaConfBaseException as exc:  # as Hydra's own loader wraps it
            raise ConfigCompositionException() from exc
        return cfg

    def _base(
        self,
        config_name: str | None,
        structural: list[Override],
        run_mode: RunMode,
        from_shell: bool,
    ) -> DictConfig | bytes:
        """The composition of the structural overrides alone (see :func:`_copy`)."""
        lines = [str(o.input_line) for o in structural]
        key = (config_name, run_mode, from_shell, tuple(lines))
        if key not in self._runner_bases:
            cfg = super().load_configuration(
                config_name, lines, run_mode, from_shell, True
            )
            try:
                self._runner_bases[key] = pickle.dumps(cfg, pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError):
                # A schema class that pickle cannot find by name (a launcher
                # worker holds copies of the plugins' config classes).
                self._runner_bases[key] = cfg
        return self._runner_bases[key]

    def _parse(self, overrides: list[str]) -> list[Override]:
        missing = [o for o in overrides if o not in self._runner_parsed]
        if missing:
            parser = OverridesParser.create()
            for text, override in zip(
                missing, parser.parse_overrides(missing), strict=True
            ):
                self._runner_parsed[text] = override
        return [self._runner_parsed[o] for o in overrides]

    def _is_structural(self, config_name: str | None, override: Override) -> bool:
        """Whether Hydra reads this override as a config group choice.

        The same rule as Hydra's defaults list: an override of an existing
        group is a choice unless its value is a dict.  Overrides with a
        package (``group@pkg=...``) are left to Hydra as well.
        """
        if override.package is not None:
            return True
        group = override.key_or_group
        key = (config_name, group)
        if key not in self._runner_groups:
            self._runner_groups[key] = self._repository(config_name).group_exists(group)
        return self._runner_groups[key] and not isinstance(override.value(), dict)

    def _repository(self, config_name: str | None) -> Any:
        # The primary config's own hydra.searchpath may add config sources:
        # ask the repository Hydra composes this config from.
        if config_name not in self._runner_repos:
            _, repo = self._parse_overrides_and_create_caching_repo(config_name, [])
            self._runner_repos[config_name] = repo
        return self._runner_repos[config_name]


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
    """Fill in what Hydra derives from the whole list of overrides."""
    hydra = cfg.hydra
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
    """Make Hydra create a :class:`CachingConfigLoader` in this process."""
    import hydra._internal.hydra as hydra_module

    hydra_module.ConfigLoaderImpl = CachingConfigLoader  # type: ignore[misc]
