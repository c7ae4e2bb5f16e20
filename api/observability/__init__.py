"""What an operator watches of the gateway and the site services: Prometheus metrics (one registry per
app) and the request id middleware. The settings that choose the log format and a metrics address are
``rag_fed.service_settings.ObservabilitySettings``."""

from api.observability.gateway_metrics import GatewayMetrics
from api.observability.http import MetricsServer, RequestMetricsMiddleware, metrics_response
from api.observability.site_metrics import SiteMetrics

__all__ = [
    "GatewayMetrics",
    "MetricsServer",
    "RequestMetricsMiddleware",
    "SiteMetrics",
    "metrics_response",
]
