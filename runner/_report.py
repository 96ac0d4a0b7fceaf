"""The HTML report of ``python -m runner.compare --format html``.

One self-contained file: the comparison table, the notes and the selection,
and three plots drawn with matplotlib (Agg) and embedded as base64 PNG:

- metric bars per run, validation and test side by side;
- the precision/recall trade-off across runs: each run's operating point on
  validation and test, and its test precision/recall curve from the logged
  ``predictions.csv`` (binary runs with scores);
- the runs' test confusion matrices side by side, from ``confusion_matrix.csv``.

Plots show the first ``plot_runs`` rows of the table (the best ranked); the
artifacts are downloaded for those runs only.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from runner._compare_store import RunRecord

log = logging.getLogger(__name__)

_VAL, _TEST = "#1f77b4", "#ff7f0e"
_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen td { background: #e3f5e1; font-weight: 600; }
tr.rejected td { color: #777; }
td.warn { color: #a15c00; }
ul.notes li { margin: 0.2rem 0; } .warning { color: #a10000; }
figure { margin: 1rem 0; } figcaption { font-size: 0.85rem; color: #555; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
p.missing { color: #777; font-style: italic; }
div.scroll { overflow-x: auto; max-width: 100%; }
"""


def render_html(comparison: Any, *, uri: str = "", plot_runs: int = 12) -> str:
    """Render a :class:`runner.compare.Comparison` as one HTML document.

    Parameters
    ----------
    comparison : Comparison
        From :func:`runner.compare.build_comparison`.
    uri : str, default=""
        Tracking URI of the runs, to download their artifacts.
    plot_runs : int, default=12
        How many rows, from the top, the plots show.

    Returns
    -------
    str
        The document.
    """
    rows = comparison.rows[:plot_runs]
    records = [row.record for row in rows]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(comparison.title or 'Run comparison')}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Run comparison</h1>",
        f'<p class="title">{_e(comparison.title)}. Generated {stamp} from '
        f"<code>{_e(uri)}</code>.</p>",
        _summary(comparison),
        _table(comparison),
        "<h2>Plots</h2>",
    ]
    if len(comparison.rows) > len(rows):
        parts.append(
            f"<p>The plots show the first {len(rows)} of {len(comparison.rows)} "
            "rows (<code>--plot-runs</code>).</p>"
        )
    parts += [
        _figure(
            "plot-metrics",
            "Metric values per run, validation and test",
            _bars(comparison, records),
        ),
        _figure(
            "plot-tradeoff",
            "Precision/recall trade-off across runs: operating "
            "points on validation (filled) and test (hollow), and test "
            "precision/recall curves",
            _trade_off(records, uri),
        ),
        _figure(
            "plot-confusion",
            "Test confusion matrices (rows: true label, columns: predicted)",
            _confusions(records, uri),
        ),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _summary(comparison: Any) -> str:
    from runner.compare import summary_lines

    items = []
    for label, text in summary_lines(comparison):
        css = ' class="warning"' if label == "warning" else ""
        items.append(f"<li{css}><strong>{_e(label)}</strong>: {_e(text)}</li>")
    return '<ul class="notes">' + "".join(items) + "</ul>"


def _table(comparison: Any) -> str:
    from runner.compare import cells, header

    head = header(comparison)
    selecting = comparison.selection is not None
    if selecting:
        head = [*head, "failed constraints"]
    numeric = {i for i, h in enumerate(head) if "/" in h or h == "rank"}
    out = ['<div class="scroll"><table id="runs">', "<thead><tr>"]
    out += [f"<th>{_e(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in comparison.rows:
        values = cells(comparison, row) + ([row.detail] if selecting else [])
        css = row.selection.split(" ")[0] if row.selection else ""
        out.append(f'<tr class="{css}" data-run-id="{_e(row.record.run_id)}">')
        for i, value in enumerate(values):
            out.append(_cell(head[i], value, row.record, i in numeric))
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _cell(column: str, value: str, record: RunRecord, numeric: bool) -> str:
    attrs = ' class="num"' if numeric else ""
    if column == "flags" and value.startswith("warn"):
        reasons = [
            f"{k.removeprefix('diagnostic.')}: {record.tags.get(k + '.reason', '')}"
            for k, v in record.tags.items()
            if k.startswith("diagnostic.") and v == "warn"
        ]
        attrs = f' class="warn" title="{_e(" | ".join(reasons))}"'
    return f"<td{attrs}>{_e(value)}</td>"


def _figure(plot_id: str, caption: str, png: bytes | str) -> str:
    if isinstance(png, str):
        return (
            f'<figure id="{plot_id}"><p class="missing">{_e(png)}</p>'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{plot_id}"><img alt="{_e(caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{_e(caption)}'
        "</figcaption></figure>"
    )


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def _label(record: RunRecord, limit: int = 32) -> str:
    name = record.name
    return name if len(name) <= limit else name[: limit - 1] + "…"


# --------------------------------------------------------------------------
# Metric bars


def _bars(comparison: Any, records: list[RunRecord]) -> bytes | str:
    from runner.compare import _COUNTS

    names = list(
        dict.fromkeys(
            m.name
            for m in comparison.metrics
            if m.split in ("val", "test") and m.name not in _COUNTS
        )
    )
    names = [
        n
        for n in names
        if any(
            not math.isnan(r.metric(f"{s}/{n}"))
            for r in records
            for s in ("val", "test")
        )
    ]
    if not records or not names:
        return "No metric values to plot."
    plt = _pyplot()
    height = 0.8 + 0.35 * len(records)
    fig, axes = plt.subplots(
        1,
        len(names),
        figsize=(2.6 * len(names) + 2, height),
        sharey=True,
        squeeze=False,
    )
    y = np.arange(len(records))
    for ax, name in zip(axes[0], names, strict=True):
        for offset, split, colour in ((-0.2, "val", _VAL), (0.2, "test", _TEST)):
            values = [r.metric(f"{split}/{name}") for r in records]
            ax.barh(
                y + offset, np.nan_to_num(values), height=0.4, color=colour, label=split
            )
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y, [_label(r) for r in records])
    axes[0][0].invert_yaxis()
    axes[0][-1].legend(fontsize=8, loc="lower right")
    return _png(fig)


# --------------------------------------------------------------------------
# Precision/recall trade-off


def _trade_off(records: list[RunRecord], uri: str) -> bytes | str:
    from runner.compare import TRADE_OFF

    tasks = {r.tags.get("runner.task", "") for r in records}
    task = next((t for t in ("binary", "multiclass") if t in tasks), None)
    if task is None:
        return "No classification runs: precision and recall do not apply."
    p_name, r_name = TRADE_OFF[task]
    points = [r for r in records if r.tags.get("runner.task") == task]
    curves = _pr_curves(points, uri) if task == "binary" else {}
    plt = _pyplot()
    panels = 2 if curves else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 5), squeeze=False)
    ax = axes[0][0]
    colours = plt.get_cmap("tab10")
    for i, record in enumerate(points):
        colour = colours(i % 10)
        for split, face in (("val", colour), ("test", "none")):
            p = record.metric(f"{split}/{p_name}")
            r = record.metric(f"{split}/{r_name}")
            ax.scatter(
                [np.nan_to_num(r)],
                [np.nan_to_num(p)],
                s=60,
                facecolors=face,
                edgecolors=[colour],
                linewidths=1.5,
            )
        ax.annotate(
            _label(record, 24),
            (
                np.nan_to_num(record.metric(f"val/{r_name}")),
                np.nan_to_num(record.metric(f"val/{p_name}")),
            ),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    _pr_axes(ax, r_name, p_name, "operating points (undefined plotted as 0)")
    if curves:
        ax = axes[0][1]
        for i, record in enumerate(points):
            if record.run_id not in curves:
                continue
            recall, precision = curves[record.run_id]
            ax.plot(
                recall,
                precision,
                color=colours(i % 10),
                lw=1.2,
                label=_label(record, 24),
                drawstyle="steps-post",
            )
            ax.scatter(
                [np.nan_to_num(record.metric("test/recall"))],
                [np.nan_to_num(record.metric("test/precision"))],
                facecolors="none",
                edgecolors=[colours(i % 10)],
                s=60,
            )
        _pr_axes(ax, "recall", "precision", "test precision/recall curves")
        ax.legend(fontsize=7, loc="upper right")
    return _png(fig)


def _pr_axes(ax: Any, x: str, y: str, title: str) -> None:
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)


def _pr_curves(
    records: Sequence[RunRecord], uri: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    curves = {}
    for record in records:
        table = _artifact_rows(record, "predictions.csv", uri)
        positive = record.tags.get("runner.positive_label")
        if not table or positive is None:
            continue
        head, body = table[0], table[1:]
        score_cols = [
            i for i, h in enumerate(head) if h.startswith(("proba_", "score_"))
        ]
        if len(score_cols) != 1 or "y_true" not in head or not body:
            continue
        truth = np.array([row[head.index("y_true")] == positive for row in body])
        score = np.array([float(row[score_cols[0]]) for row in body])
        if truth.all() or not truth.any():
            continue
        curves[record.run_id] = pr_curve(truth, score)
    return curves


def pr_curve(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at every distinct score threshold, high to low.

    The points of ``sklearn.metrics.precision_recall_curve`` (one per
    distinct score, plus recall 0 / precision 1), computed with numpy so that
    a report does not import scikit-learn.

    Parameters
    ----------
    truth : ndarray of bool
        Whether each row is positive.
    score : ndarray of float
        Score of the positive class; higher means more likely positive.

    Returns
    -------
    recall, precision : ndarray
        From the highest threshold (recall 0, precision 1) down.
    """
    order = np.argsort(-score, kind="mergesort")
    score, truth = score[order], truth[order]
    # Last index of each run of equal scores: one point per distinct threshold.
    cut = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    tp = np.cumsum(truth)[cut]
    predicted = cut + 1
    precision = tp / predicted
    recall = tp / truth.sum()
    return np.r_[0.0, recall], np.r_[1.0, precision]


# --------------------------------------------------------------------------
# Confusion matrices


def _confusions(records: list[RunRecord], uri: str) -> bytes | str:
    matrices = []
    for record in records:
        table = _artifact_rows(record, "confusion_matrix.csv", uri)
        if table and len(table) > 1:
            labels = table[0][1:]
            counts = np.array([[int(v) for v in row[1:]] for row in table[1:]])
            matrices.append((record, [row[0] for row in table[1:]], labels, counts))
    if not matrices:
        return (
            "No confusion_matrix.csv among the plotted runs (regression runs, "
            "or artifacts not available)."
        )
    plt = _pyplot()
    ncols = min(4, len(matrices))
    nrows = math.ceil(len(matrices) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.4 * ncols, 3.2 * nrows), squeeze=False
    )
    for ax in axes.flat[len(matrices) :]:
        ax.axis("off")
    for ax, (record, true_labels, pred_labels, counts) in zip(
        axes.flat, matrices, strict=False
    ):
        ax.imshow(counts, cmap="Blues")
        ax.set_xticks(range(len(pred_labels)), pred_labels, fontsize=7, rotation=45)
        ax.set_yticks(range(len(true_labels)), true_labels, fontsize=7)
        ax.set_title(_label(record, 28), fontsize=8)
        limit = counts.max() / 2 if counts.size else 0
        for (i, j), value in np.ndenumerate(counts):
            ax.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > limit else "black",
            )
    return _png(fig)


def _artifact_rows(record: RunRecord, path: str, uri: str) -> list[list[str]]:
    """Rows of a CSV artifact of ``record``; [] when it cannot be read."""
    root = record.artifact_uri or ""
    if root.startswith("file://") or root.startswith("/"):
        # A local artifact root is read in place: no MLflow import, no copy.
        local = _local_artifact(root, path)
        return _read_csv(local) if local.is_file() else []
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        import mlflow.artifacts

        with tempfile.TemporaryDirectory() as tmp:
            got = mlflow.artifacts.download_artifacts(
                run_id=record.run_id,
                artifact_path=path,
                tracking_uri=uri or None,
                dst_path=tmp,
            )
            return _read_csv(Path(got))
    except Exception as exc:  # noqa: BLE001 - a missing plot must not end the report
        log.info("No %s for run %s: %s", path, record.run_id, exc)
        return []


def _local_artifact(root: str, path: str) -> Path:
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(root).path)) / path


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))
