"""Wire vocabulary shared by site and router: the site service's URL paths and the sketch message."""

from rag_fed.wire.paths import HEALTH_PATH, MODEL_PATH, QUERY_PATH, SKETCH_PATH, TERM_STATS_PATH
from rag_fed.wire.sketch import SiteSketch

__all__ = ["HEALTH_PATH", "MODEL_PATH", "QUERY_PATH", "SKETCH_PATH", "TERM_STATS_PATH", "SiteSketch"]
