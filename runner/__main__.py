"""``python -m runner``: compose the config, check it, run the job(s)."""

from __future__ import annotations

import os
import sys

from runner._cli import main

if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.exit(main())
