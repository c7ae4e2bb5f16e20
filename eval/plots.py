"""PNG plots of an evaluation: metric bars per system, latency per stage, federated training curves.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no global backend switch), so the
plots render on headless machines and from worker threads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eval._records import input_error
from eval.results import EvalResult

__all__ = ["load_training_log", "plot_latency", "plot_metric_bars", "plot_training_curves"]

_DPI = 110


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=_DPI)
    return path


def plot_metric_bars(result: EvalResult, path: Path) -> Path | None:
    """Grouped bars: one group per metric (retrieval, then answer), one bar per system."""
    metrics = list(dict.fromkeys(m for report in result.systems for m in [*report.retrieval, *report.answers]))
    if not metrics or not result.systems:
        return None
    width = 0.8 / len(result.systems)
    figure = Figure(figsize=(max(6.0, 1.4 * len(metrics) + 2), 4.2), layout="constrained")
    axes = figure.add_subplot()
    for offset, report in enumerate(result.systems):
        shift = (offset - (len(result.systems) - 1) / 2) * width
        # A system without a metric (e.g. one that does not answer) gets no bar rather than a false zero.
        scored = {**report.retrieval, **report.answers}
        present = [(index + shift, scored[m]) for index, m in enumerate(metrics) if m in scored]
        bars = axes.bar([p for p, _ in present], [v for _, v in present], width, label=report.name)
        axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    axes.set_xticks(range(len(metrics)), metrics)
    axes.set_ylim(0, 1.08)
    axes.set_ylabel("score")
    axes.set_title(f"{result.dataset}: quality per system")
    axes.legend(fontsize=8)
    return _save(figure, path)


def plot_latency(result: EvalResult, path: Path) -> Path | None:
    """Box plots of per-query latency: one panel per stage, one box per system that reports it."""
    stages = sorted({stage for report in result.systems for record in report.queries for stage in record.timings_ms})
    if not stages:
        return None
    columns = min(3, len(stages))
    rows = math.ceil(len(stages) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.4 * rows), layout="constrained")
    for index, stage in enumerate(stages, start=1):
        axes = figure.add_subplot(rows, columns, index)
        samples: list[list[float]] = []
        labels: list[str] = []
        for report in result.systems:
            values = [r.timings_ms[stage] for r in report.queries if stage in r.timings_ms]
            if values:
                samples.append(values)
                labels.append(report.name)
        axes.boxplot(samples, tick_labels=labels, showfliers=True)
        axes.set_title(stage, fontsize=10)
        axes.set_ylabel("ms")
        axes.tick_params(axis="x", labelrotation=20, labelsize=8)
    figure.suptitle(f"{result.dataset}: latency per stage")
    return _save(figure, path)


def load_training_log(path: Path) -> list[dict[str, float]]:
    """Read a training log: a JSON list of ``{"round": int, "<metric>": number, ...}`` objects."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise input_error(path, None, "file not found") from error
    except json.JSONDecodeError as error:
        raise input_error(path, error.lineno, f"not valid JSON ({error.msg})") from error
    if not isinstance(entries, list):
        raise input_error(path, None, 'expected a JSON list of {"round": ..., "<metric>": ...} objects')
    log: list[dict[str, float]] = []
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("round"), int):
            raise input_error(path, None, f"entry {number} is not an object with an integer 'round'")
        values = {key: value for key, value in entry.items() if key != "round"}
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()):
            raise input_error(path, None, f"entry {number} has a non-numeric metric value")
        log.append({"round": float(entry["round"]), **{key: float(v) for key, v in values.items()}})
    return log


def plot_training_curves(log: Sequence[Mapping[str, float]], path: Path) -> Path | None:
    """One line per metric of the training log, round on the x axis."""
    metrics = sorted({key for entry in log for key in entry if key != "round"})
    if not metrics:
        return None
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    for metric in metrics:
        points = sorted((entry["round"], entry[metric]) for entry in log if metric in entry)
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=metric)
    axes.set_xlabel("round")
    axes.set_ylabel("value")
    axes.set_title("federated training")
    axes.legend(fontsize=8)
    return _save(figure, path)
