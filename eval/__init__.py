"""Benchmark harness: datasets, federated splits, metrics, the system contract, the runner and reports.

Import from the submodules (``eval.datasets``, ``eval.splits``, ``eval.metrics``, ``eval.systems``,
``eval.runner``, ``eval.report``); the package itself stays light so that importing it loads nothing heavy.
"""

__all__: list[str] = []
