"""The table bench/fanout.py prints: its rows beside the central index, the steps of the router one by one,
and where the router's CPU goes."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["show"]

Row = dict[str, float]


def show(report: Mapping[str, Row]) -> None:
    central = report["central"]
    print(
        f"{'row':28} {'p50 ms':>8} {'p95 ms':>8} {'nDCG@10':>8} {'/central':>8} {'asked':>6} {'CPU ms/q':>9} "
        f"{'CPU ms/site':>11} {'bytes/q':>9} {'fetched':>7}"
    )
    print(f"{'central index':28} {central['p50_ms']:8.1f} {central['p95_ms']:8.1f} {central['ndcg@10']:8.4f}")
    for name, row in report.items():
        if name.startswith(("all", "selected")):
            print(
                f"{name:28} {row['p50']:8.1f} {row['p95']:8.1f} {row['ndcg@10']:8.4f} "
                f"{row['ndcg@10'] / central['ndcg@10']:8.3f} {row['sites_asked']:6.1f} {row['cpu_ms_per_query']:9.2f} "
                f"{row['cpu_ms_per_site']:11.2f} {row['bytes_per_query']:9.0f} {row.get('fetch_share', 0):7.2f}"
            )
        elif name.startswith("floor"):
            print(f"{name:28} {row['p50']:8.1f} {row['p95']:8.1f}")
    for name, steps in report.items():
        if not name.startswith("steps"):
            continue
        total = sum(steps[step] for step in ("select", "seal", "http", "decode", "merge") if step in steps)
        print(f"\n{name}: where the time goes (mean ms per question; sum {total:.1f} ms):")
        for step, value in steps.items():
            if step in ("sites asked", "reply bytes/site"):
                print(f"  {step:16} {value:9.1f}")
                continue
            share = f"{value / total:6.1%}" if step not in ("site search", "first reply") else "  (inside HTTP)"
            print(f"  {step:16} {value:7.2f}  {share}")
    functions = report.get("functions selected @100")
    if functions:
        print("\nthe router's top functions, selected @100 (cProfile, own time, ms per question):")
        for function, value in functions.items():
            print(f"  {function:60} {value:7.3f}")
    packages = report.get("CPU by package @10")
    if packages:
        whole = sum(packages.values())
        print("\nthe router's CPU at 10 sites by package (cProfile, own time, ms per question):")
        for package, value in packages.items():
            print(f"  {package:20} {value:7.2f}  {value / whole:6.1%}")
