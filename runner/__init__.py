"""runner: declarative, config-driven ML experiments with Hydra and MLflow."""

__version__ = "0.1.0"
