"""The ``ragfed`` command line."""
