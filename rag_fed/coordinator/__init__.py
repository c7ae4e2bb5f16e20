"""The gateway as coordinator, without HTTP: its settings (``settings.GatewaySettings``), its embedders
(``embedders.EmbedderPool``), the model controls it sends (``controls``) and its training runs (``runs``).

The gateway service (``api/gateway``) and the coordinator's commands (``rag_fed/cli``: federation, model,
train) both build on it; it imports nothing from ``api``. Import from the submodules: this package loads
nothing.
"""
