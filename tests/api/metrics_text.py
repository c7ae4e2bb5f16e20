"""Reading a ``/metrics`` page in tests: every sample by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "parse_samples"]


class Samples(dict[tuple[str, frozenset[tuple[str, str]]], float]):
    def get_value(self, name: str, **labels: str) -> float | None:
        return self.get((name, frozenset(labels.items())))

    def total(self, name: str, **labels: str) -> float:
        """Sum of ``name``'s samples whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(value for (sample, have), value in self.items() if sample == name and wanted <= have)


def parse_samples(text: str) -> Samples:
    samples = Samples()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples
