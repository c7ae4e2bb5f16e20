"""PNG plots of an evaluation: metric bars per system, latency per stage, federated training curves.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no global backend switch), so the
plots render on headless machines and from worker threads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eval.results import EvalResult
from eval.training_log import metric_family

__all__ = ["plot_latency", "plot_metric_bars", "plot_training_curves"]

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


def plot_training_curves(log: Sequence[Mapping[str, float]], path: Path) -> Path | None:
    """One panel per metric of the training log (its mean and, for a ledger, each site), round on x."""
    keys = sorted({key for entry in log for key in entry if key != "round"})
    families = list(dict.fromkeys(metric_family(key) for key in keys))
    if not families:
        return None
    columns = min(3, len(families))
    rows = math.ceil(len(families) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
    for index, family in enumerate(families, start=1):
        axes = figure.add_subplot(rows, columns, index)
        members = [key for key in keys if metric_family(key) == family]
        for key in members:
            points = sorted((entry["round"], entry[key]) for entry in log if key in entry)
            overall = key == family  # the mean over sites (or the only line of a flat log)
            axes.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="o" if overall else ".",
                linewidth=2.0 if overall else 0.8,
                label="mean of sites" if overall else key[len(family) :].strip("[]"),
            )
        axes.set_title(family, fontsize=10)
        axes.set_xlabel("round")
        if len(members) > 1:
            axes.legend(fontsize=7)
    figure.suptitle("federated training")
    return _save(figure, path)
