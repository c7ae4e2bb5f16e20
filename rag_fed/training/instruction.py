"""The run's settings as Flower carries them: one JSON entry of the coordinator's ``config`` record.

Flower's records are string-keyed; the coordinator writes the whole :class:`~rag_fed.config.TrainingSettings`
of a run into one entry and each site parses it back, so both sides read typed settings.
"""

from __future__ import annotations

from rag_fed.config import TrainingSettings

__all__ = ["INSTRUCTION_CONFIG_KEY", "instruction_json"]

# The ConfigRecord entry (in the coordinator's "config" record) that carries the run's settings as JSON.
INSTRUCTION_CONFIG_KEY = "training-config"
# What only the coordinator uses: where it keeps run folders, how sites mine pairs before the run, and the
# DP defaults (the run's own DP, resolved from them, travels as ``privacy``).
_COORDINATOR_ONLY = frozenset({"runs_dir", "pairs", "dp"})


def instruction_json(config: TrainingSettings) -> str:
    """The run's settings as the sites receive them."""
    return config.model_dump_json(exclude=set(_COORDINATOR_ONLY))
