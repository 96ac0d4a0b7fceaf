"""Where the runner finds its configs and keeps its outputs."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

#: The package folder; ``conf/`` sits beside it in the project.
PACKAGE_DIR = Path(__file__).resolve().parent

#: One id per process, so that two processes started in the same microsecond
#: still get separate Hydra output folders.
PROCESS_UID = uuid.uuid4().hex[:6]


def conf_dir() -> Path:
    """Folder of the primary config ``config.yaml`` and its groups."""
    return PACKAGE_DIR.parent / "conf"


def runner_home() -> Path:
    """Project folder that holds ``outputs/``.

    ``RUNNER_HOME`` wins; otherwise the project the package was installed from
    (an editable install), so runs started from any folder share one store.
    """
    env = os.environ.get("RUNNER_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return PACKAGE_DIR.parent


def default_tracking_uri() -> str:
    """Absolute sqlite URI of the default store, ``outputs/mlflow.db``."""
    db = runner_home() / "outputs" / "mlflow.db"
    return f"sqlite:///{db}"
