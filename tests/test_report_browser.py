"""The HTML report, rendered by a real headless browser (Debian's chromium).

Two real runs (the majority baseline and a logistic regression) are trained
with ``python -m runner``; ``python -m runner.compare --format html`` writes
the report; chromium loads it, and the test reads back the DOM it rendered
(the table's rows, and the decoded size of every picture) and a screenshot.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="needs Debian's chromium for the headless browser test: "
        "apt-get update && apt-get install -y chromium",
    ),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=10000",
]
# Added to a copy of the report: records what the browser decoded.
PROBE = """<script>
window.addEventListener("load", function () {
  for (const img of document.images) {
    img.setAttribute("data-natural", img.naturalWidth + "x" + img.naturalHeight);
  }
  document.body.setAttribute("data-probe", "loaded");
});
</script>"""


class Dom(HTMLParser):
    """The parts of the rendered DOM the test checks."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.headers: list[str] = []
        self.images: list[dict[str, str]] = []
        self.figures: list[str] = []
        self.body: dict[str, str] = {}
        self._cell: list[str] | None = None
        self._in_table = False
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        elif tag == "table" and a.get("id") == "runs":
            self._in_table = True
        elif tag == "th" and self._in_table:
            self._in_th = True
            self.headers.append("")
        elif tag == "tr" and self._in_table and "data-run-id" in a:
            self.rows.append(
                {"id": a["data-run-id"], "class": a.get("class", ""), "cells": []}
            )
        elif tag == "td" and self.rows and self._in_table:
            self._cell = []
        elif tag == "figure":
            self.figures.append(a.get("id", ""))
        elif tag == "img":
            self.images.append({**a, "figure": self.figures[-1]})

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag == "th":
            self._in_th = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.headers[-1] += data
        elif self._cell is not None:
            self._cell.append(data)


def env_for(home: Path) -> dict[str, str]:
    env = dict(os.environ, RUNNER_HOME=str(home), MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_RUN_ID", None)
    return env


def run(cmd: list[str], home: Path, timeout: float = 600) -> str:
    proc = subprocess.run(
        cmd,
        cwd=home,
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{cmd}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests.test_compare import baseline_and_logreg

    home = baseline_and_logreg(tmp_path_factory)
    path = home / "report.html"
    run(
        [
            sys.executable,
            "-m",
            "runner.compare",
            "--format",
            "html",
            "--output",
            str(path),
            "--policy",
            "recall_goal",
            "--dry-run",
        ],
        home,
    )
    return home, path


def chromium(home: Path, *args: str) -> str:
    assert CHROMIUM is not None
    profile = home / "chromium-profile"
    return run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], home, timeout=120
    )


def logged(home: Path) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'outputs' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("runner")
    runs = client.search_runs([exp.experiment_id])
    return {r.info.run_id: r for r in runs if r.data.tags.get("runner.role") != "sweep"}


def test_browser_renders_the_table_and_every_picture(report: tuple[Path, Path]) -> None:
    home, path = report
    probe = home / "probe.html"
    probe.write_text(path.read_text().replace("</body>", PROBE + "</body>"))

    dom = Dom()
    dom.feed(chromium(home, "--dump-dom", probe.as_uri()))

    assert dom.body.get("data-probe") == "loaded"
    runs = logged(home)

    # By hand: the recall goal keeps runs with val/recall >= 0.5 and
    # val/precision >= 0.2 and puts the best val/recall first.
    def passes(r: Any) -> bool:
        m = r.data.metrics
        return (
            m["val/recall"] >= 0.5
            and not math.isnan(m["val/precision"])
            and m["val/precision"] >= 0.2
        )

    chosen = max(
        (r for r in runs.values() if passes(r)),
        key=lambda r: r.data.metrics["val/recall"],
    )
    assert [row["id"] for row in dom.rows][0] == chosen.info.run_id
    assert {row["id"] for row in dom.rows} == set(runs)
    assert dom.rows[0]["class"] == "chosen"
    assert all(row["class"] == "rejected" for row in dom.rows[1:])
    run_col = dom.headers.index("run")
    recall_col = dom.headers.index("val/recall")
    for row in dom.rows:
        metrics = runs[row["id"]].data.metrics
        assert row["cells"][run_col] == runs[row["id"]].info.run_name
        assert row["cells"][recall_col] == f"{metrics['val/recall']:.4f}"

    assert dom.figures == ["plot-metrics", "plot-tradeoff", "plot-confusion"]
    assert [img["figure"] for img in dom.images] == dom.figures
    for img in dom.images:
        width, height = (int(v) for v in img["data-natural"].split("x"))
        assert width > 200 and height > 100, img["figure"]


def test_screenshot_shows_the_plots(report: tuple[Path, Path]) -> None:
    import matplotlib.image as mpimg
    import numpy as np

    home, path = report
    shot = home / "shot.png"
    chromium(home, f"--screenshot={shot}", "--window-size=1400,2600", path.as_uri())

    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2600, 1400)
    # The bars' and points' colours (matplotlib's first two) are on screen.
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):
        close = np.abs(pixels - np.array(colour) / 255).max(axis=2) < 0.05
        assert close.sum() > 2000, colour
    # The confusion matrices' darkest blue.
    assert (
        np.abs(pixels - np.array((0x08, 0x30, 0x6B)) / 255).max(axis=2) < 0.05
    ).sum() > 2000
