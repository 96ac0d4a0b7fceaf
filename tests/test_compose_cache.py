"""The cached composition (runner._compose) equals Hydra's from scratch.

Each case composes a job's config twice with Hydra's own loader and twice with
the caching one (the second time from the cache), and compares the YAML of
the whole config, Hydra's own node included, or the error raised.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from runner import _cli
from runner import _compose as _compose_module
from runner._compose import CachingConfigLoader
from runner._paths import conf_dir

CASES = [
    [],
    ["model=logreg", "model.C=0.5"],
    ["model=logreg", "model.C=0.7"],
    ["model.C=0.7", "model=logreg"],
    ["model=rf", "model.n_estimators=5", "seed=3"],
    ["+model.class_weight=balanced"],
    ["model=rf", "++model.max_depth=4"],
    ["model=hgb", "~model.learning_rate"],
    ["hydra.job.config.override_dirname.kv_sep=@", "model=rf", "seed=2"],
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1"],
    ["experiment=imbalanced_recall", "seed=1"],
    ["sweep=rf_grid"],
    ["dataset=iris", "split=time", "split.val_size=0.25"],
    ["dataset=csv", "dataset.path=/x.csv", "dataset.target=y"],
    ["model={n_estimators: 3, max_depth: 2}"],
    ["hydra.job.env_copy=[HOME]"],
    ["hydra.job.name=other"],
    ["metrics.suite=[accuracy,f1]", "tracking.run_name='a b'"],
    # Errors: the same exception and message either way.
    ["~model.max_depth"],
    ["model.n_estimator=5"],
    ["+seed=1"],
    ["model=nope"],
    ["seed=abc"],
    ["model.C=0.1,0.2"],
]


@pytest.fixture(scope="module")
def loaders() -> Iterator[tuple[ConfigLoaderImpl, CachingConfigLoader]]:
    _cli.register()
    search_path = create_config_search_path(str(conf_dir()))
    Hydra.create_main_hydra2("runner", search_path)
    try:
        yield (
            ConfigLoaderImpl(config_search_path=search_path),
            CachingConfigLoader(config_search_path=search_path),
        )
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture
def composed_by_hydra(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The override lists Hydra's own loader composes from files, from now on."""
    calls: list[list[str]] = []
    compose = ConfigLoaderImpl.load_configuration

    def counted(self: Any, config_name: Any, overrides: list[str], *a: Any) -> Any:
        calls.append(list(overrides))
        return compose(self, config_name, overrides, *a)

    monkeypatch.setattr(ConfigLoaderImpl, "load_configuration", counted)
    return calls


def _compose(loader: Any, overrides: list[str]) -> str:
    try:
        cfg = loader.load_configuration("config", overrides, RunMode.RUN)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc} (cause: {exc.__cause__})"
    return OmegaConf.to_yaml(cfg)


@pytest.mark.parametrize("overrides", CASES, ids=" ".join)
def test_cached_composition_equals_hydras(
    loaders: tuple[ConfigLoaderImpl, CachingConfigLoader], overrides: list[str]
) -> None:
    plain, cached = loaders
    expected = _compose(plain, overrides)
    assert _compose(cached, overrides) == expected
    assert _compose(cached, overrides) == expected  # now from the cache


def test_a_value_sweep_reads_the_config_files_once(
    loaders: tuple[ConfigLoaderImpl, CachingConfigLoader],
    composed_by_hydra: list[list[str]],
) -> None:
    _, cached = loaders
    for c in (0.01, 0.1, 1.0, 10.0):
        cfg = cached.load_configuration(
            "config", ["model=svm", f"model.C={c}"], RunMode.RUN
        )
        assert cfg.model.C == c
        assert list(cfg.hydra.overrides.task) == ["model=svm", f"model.C={c}"]
        assert cfg.hydra.job.override_dirname == f"model.C={c},model=svm"
    assert composed_by_hydra == [["model=svm"]]


def test_a_worker_shares_the_cache_of_its_command_line(
    loaders: tuple[ConfigLoaderImpl, CachingConfigLoader],
    composed_by_hydra: list[list[str]],
) -> None:
    # Launchers pickle the loader into each job they send a worker process.
    plain, cached = loaders
    expected = _compose(plain, ["model=knn", "model.n_neighbors=3"])
    assert _compose(cached, ["model=knn", "model.n_neighbors=4"]) != expected
    before = len(composed_by_hydra)
    sent = pickle.loads(pickle.dumps(cached))
    assert len(pickle.dumps(cached)) < len(pickle.dumps(plain)) + 200  # no configs
    assert _compose(sent, ["model=knn", "model.n_neighbors=3"]) == expected
    assert composed_by_hydra[before:] == []


def test_a_new_command_line_reads_the_files_again(
    loaders: tuple[ConfigLoaderImpl, CachingConfigLoader],
    composed_by_hydra: list[list[str]],
) -> None:
    _, cached = loaders
    overrides = ["model=dummy", "split=time"]  # composed by no other test
    cached.load_configuration("config", overrides, RunMode.RUN)
    cached.load_configuration("config", overrides, RunMode.RUN)
    _compose_module.install()
    fresh = CachingConfigLoader(config_search_path=cached.config_search_path)
    fresh.load_configuration("config", overrides, RunMode.RUN)
    assert composed_by_hydra == [overrides, overrides]
