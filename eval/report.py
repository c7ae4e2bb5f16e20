"""Write an evaluation's report: ``report.json`` (every number), ``report.md`` and ``report.html`` with plots.

The Markdown and HTML pages show the same tables, built once; plots are PNG files under ``plots/``,
referenced by relative path so the folder can be moved or published as it is.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from eval.plots import plot_latency, plot_metric_bars, plot_training_curves
from eval.results import EvalResult, QueryRecord, SystemReport
from eval.training_log import load_training_log

__all__ = ["WORST_QUESTIONS", "worst_questions", "write_report"]


@dataclass(frozen=True)
class _Table:
    title: str
    headers: list[str]
    rows: list[list[str]]


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


_STAGE_ORDER = (
    "embed",
    "route",
    "site_search",
    "site_evidence",
    "site_answer",
    "fuse",
    "compose_first",
    "compose",
    "total",
)
_EXAMPLE_ANSWERS = 2
_EXAMPLE_CHARS = 400
WORST_QUESTIONS = 5
_RANKING_SHOWN = 5


def _stage_key(stage: str) -> tuple[int, str]:
    return (_STAGE_ORDER.index(stage) if stage in _STAGE_ORDER else len(_STAGE_ORDER), stage)


def _load(values: list[float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values) if values else "n/a"


def _example_rows(result: EvalResult) -> list[list[str]]:
    """The first few answered questions, each system's answer beside the reference."""
    rows: list[list[str]] = []
    answered = [r for r in result.systems if any(q.answer is not None for q in r.queries)]
    if not answered:
        return rows
    query_ids = [q.query_id for q in answered[0].queries if q.answer is not None][:_EXAMPLE_ANSWERS]
    for query_id in query_ids:
        for report in answered:
            record = next((q for q in report.queries if q.query_id == query_id), None)
            if record is None or record.answer is None:
                continue
            text = _clip(record.answer)
            f1 = record.metrics.get("token_f1", 0.0)
            rows.append([query_id, report.name, text, _number(f1, 3), ", ".join(record.cited_doc_ids)])
    return rows


def _clip(text: str, chars: int = _EXAMPLE_CHARS) -> str:
    return text if len(text) <= chars else text[:chars] + " …"


def _worst_metric(report: SystemReport) -> str | None:
    """What a configuration's worst questions are ranked by: nDCG@10 where it has retrieval metrics, else
    the answers' token F1; ``None`` when it has neither."""
    if "ndcg@10" in report.retrieval:
        return "ndcg@10"
    if "token_f1" in report.answers:
        return "token_f1"
    return next(iter(report.retrieval), None)


def worst_questions(report: SystemReport, count: int = WORST_QUESTIONS) -> tuple[str | None, list[QueryRecord]]:
    """The ``count`` questions a configuration did worst on (lowest metric first, then the dataset's order)
    and the metric they are ranked by."""
    metric = _worst_metric(report)
    if metric is None:
        return None, []
    scored = [
        (record.metrics[metric], index, record)
        for index, record in enumerate(report.queries)
        if metric in record.metrics
    ]
    return metric, [record for _, _, record in sorted(scored, key=lambda item: item[:2])[:count]]


def _worst_tables(result: EvalResult) -> list[_Table]:
    tables = []
    for report in result.systems:
        metric, records = worst_questions(report)
        if metric is None or not records:
            continue
        headers = ["query", "question", "gold", "ranking (top 5)", "answer", metric, "unresolved citations"]
        rows = [
            [
                record.query_id,
                _clip(record.question),
                _clip("; ".join([*record.gold_answers, *record.gold_doc_ids]) or "-"),
                ", ".join(record.doc_ids[:_RANKING_SHOWN]) or "-",
                _clip(record.answer) if record.answer is not None else "-",
                _number(record.metrics[metric], 3),
                ", ".join(record.unresolved_citations) or "-",
            ]
            for record in records
        ]
        tables.append(_Table(f"{report.name}: the {len(records)} worst questions by {metric}", headers, rows))
    return tables


def _tables(result: EvalResult) -> list[_Table]:
    run_rows = [
        ["dataset", result.dataset],
        ["dataset path", result.dataset_path],
        ["documents / queries", f"{result.n_docs} / {result.n_queries}"],
        ["k", str(result.k)],
        ["split", f"{result.split_spec or 'single site'} (seed {result.seed})"],
        ["sites (documents)", ", ".join(f"{site}: {size}" for site, size in result.site_sizes.items())],
        ["command", result.command],
        *([name, value] for name, value in result.config.items()),
        ["timestamp (UTC)", result.timestamp],
        [
            "load average 1/5/15 min (before; after)",
            f"{_load(result.load_average.get('before', []))}; {_load(result.load_average.get('after', []))}",
        ],
        ["versions", ", ".join(f"{name} {version}" for name, version in result.versions.items())],
    ]
    tables = [_Table("Run", ["field", "value"], run_rows)]
    retrieval = list(dict.fromkeys(m for report in result.systems for m in report.retrieval))
    if retrieval:
        rows = [[r.name, *(_number(r.retrieval.get(m, 0.0)) for m in retrieval)] for r in result.systems]
        tables.append(_Table("Retrieval quality", ["system", *retrieval], rows))
    answer = list(dict.fromkeys(m for report in result.systems for m in report.answers))
    if answer:
        rows = [[r.name, *(_number(r.answers[m]) if m in r.answers else "-" for m in answer)] for r in result.systems]
        tables.append(_Table("Answer quality", ["system", *answer], rows))
    latency_rows = [
        [r.name, stage, _number(summary["p50"], 2), _number(summary["p95"], 2), str(int(summary["n"]))]
        for r in result.systems
        for stage, summary in sorted(r.latency_ms.items(), key=lambda item: _stage_key(item[0]))
    ]
    tables.append(_Table("Latency (ms)", ["system", "stage", "p50", "p95", "queries"], latency_rows))
    cost_rows = [
        [
            r.name,
            _number(r.bytes_sent["mean"], 0),
            _number(r.bytes_sent["p95"], 0),
            _number(r.bytes_received["mean"], 0),
            _number(r.bytes_received["p95"], 0),
            _number(r.sites_contacted["mean"], 2),
            _number(r.sites_failed["mean"], 2),
            "-" if r.reachable_recall is None else _number(r.reachable_recall),
            _number(r.index_seconds, 2),
        ]
        for r in result.systems
    ]
    cost_headers = [
        "system",
        "sent mean",
        "sent p95",
        "received mean",
        "received p95",
        "sites/query",
        "failed sites/query",
        "relevant docs at contacted sites",
        "index s",
    ]
    tables.append(_Table("Bytes per query, sites contacted, indexing time", cost_headers, cost_rows))
    if answer:
        rows = [
            [r.name, str(r.unresolved_citations), str(sum(q.answer is not None for q in r.queries))]
            for r in result.systems
        ]
        tables.append(
            _Table("Unresolved citations", ["system", "citations naming no retrieved passage", "answers"], rows)
        )
    tables += _worst_tables(result)
    examples = _example_rows(result)
    if examples:
        headers = ["query", "system", "answer", "token F1", "cited documents"]
        tables.append(_Table("Example answers", headers, examples))
    return tables


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(result: EvalResult, tables: list[_Table], plots: list[Path]) -> str:
    lines = [f"# Evaluation report: {result.dataset}", ""]
    for table in tables:
        lines += [f"## {table.title}", "", "| " + " | ".join(map(_markdown_cell, table.headers)) + " |"]
        lines.append("|" + "---|" * len(table.headers))
        lines += ["| " + " | ".join(map(_markdown_cell, row)) + " |" for row in table.rows]
        lines.append("")
    if result.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in result.notes), ""]
    if plots:
        lines += ["## Plots", "", *(f"![{plot.stem}]({plot.as_posix()})\n" for plot in plots)]
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5rem}th,td{border:1px solid #ccc;padding:.3rem .6rem;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%;margin:1rem 0}"
)


def _html(result: EvalResult, tables: list[_Table], plots: list[Path]) -> str:
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evaluation report: {escape(result.dataset)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Evaluation report: {escape(result.dataset)}</h1>",
    ]
    for table in tables:
        parts.append(f"<h2>{escape(table.title)}</h2><table>")
        parts.append("<tr>" + "".join(f"<th>{escape(header)}</th>" for header in table.headers) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows]
        parts.append("</table>")
    if result.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(note)}</li>" for note in result.notes) + "</ul>")
    if plots:
        parts.append("<h2>Plots</h2>")
        parts += [f'<img src="{escape(plot.as_posix())}" alt="{escape(plot.stem)}">' for plot in plots]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(result: EvalResult, out_dir: str | Path, training_log: Path | None = None) -> list[Path]:
    """Write ``report.json``, ``report.md``, ``report.html`` and ``plots/*.png`` into ``out_dir``.

    ``training_log`` is an optional JSON list of ``{"round": n, "<metric>": value}`` entries (e.g. from
    federated fine-tuning); it is plotted and copied into report.json. Returns the files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = load_training_log(training_log) if training_log is not None else None
    drawn = [
        plot_metric_bars(result, out / "plots" / "metrics.png"),
        plot_latency(result, out / "plots" / "latency.png"),
        plot_training_curves(log, out / "plots" / "training.png") if log is not None else None,
    ]
    plots = [path.relative_to(out) for path in drawn if path is not None]
    document = {**result.to_dict(), "plots": [plot.as_posix() for plot in plots], "training_log": log}
    tables = _tables(result)
    written = {
        out / "report.json": json.dumps(document, indent=2, ensure_ascii=False) + "\n",
        out / "report.md": _markdown(result, tables, plots),
        out / "report.html": _html(result, tables, plots),
    }
    for path, text in written.items():
        path.write_text(text, encoding="utf-8")
    return [*written, *(out / plot for plot in plots)]
