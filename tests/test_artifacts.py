"""Artifact files written beside each run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from runner import _cli
from runner._artifacts import write_yaml
from runner._paths import conf_dir


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["dataset=csv", "dataset.path='a b/ü.csv'", "dataset.target=y"],
        ["model=hgb"],
    ],
)
def test_config_yaml_is_the_text_omegaconf_writes(
    tmp_path: Path, overrides: list[str]
) -> None:
    # rerun.py reads these files back with OmegaConf.load.
    _cli.register()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["odd"] = {"s": ["null", "yes", "n", "1.5", "", "a: b", "x\ny"], "n": None}
    write_yaml(tmp_path / "config.yaml", config)
    text = (tmp_path / "config.yaml").read_text()
    assert text == OmegaConf.to_yaml(config)
    loaded = OmegaConf.to_container(OmegaConf.load(tmp_path / "config.yaml"))
    assert repr(loaded) == repr(config)  # repr: NaN (zero_division) equals NaN
