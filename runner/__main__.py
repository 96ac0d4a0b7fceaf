"""``python -m runner``: compose the config, check it, run the job(s)."""

from __future__ import annotations

import atexit
import logging
import os
import sys

from runner._cli import main


def _leave(code: int) -> None:
    """Exit without the interpreter's teardown of the loaded modules.

    With MLflow, SQLAlchemy and scikit-learn loaded, that teardown takes about
    1 s on this kind of machine, after all the work is done and logged.  Exit
    handlers still run and every stream is flushed first.  When non-daemon
    threads or child processes are alive, they need the interpreter's own
    shutdown order, and a profiler or tracer writes its results then, so in
    those cases the exit is the ordinary one.
    """
    import multiprocessing
    import threading

    # The interpreter waits for non-daemon threads at exit, never for daemon
    # ones (such as a finished joblib pool's queue feeder).
    waited = [t for t in threading.enumerate() if not t.daemon]
    busy = len(waited) > 1 or multiprocessing.active_children()
    # A profiler or coverage tracer writes its results at the ordinary exit.
    watched = sys.getprofile() is not None or sys.gettrace() is not None
    if busy or watched:
        sys.exit(code)
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _leave(main())
