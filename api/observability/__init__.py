"""What an operator watches of the gateway and the site services: Prometheus metrics (one registry per
app), the request id middleware, and the settings that choose the log format and a metrics address."""

from api.observability.gateway_metrics import GatewayMetrics
from api.observability.http import MetricsServer, RequestMetricsMiddleware, metrics_response
from api.observability.settings import ObservabilitySettings
from api.observability.site_metrics import SiteMetrics

__all__ = [
    "GatewayMetrics",
    "MetricsServer",
    "ObservabilitySettings",
    "RequestMetricsMiddleware",
    "SiteMetrics",
    "metrics_response",
]
