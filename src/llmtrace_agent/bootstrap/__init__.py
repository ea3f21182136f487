"""Holds the ``sitecustomize`` that ``llmtrace-run`` puts first on PYTHONPATH."""
