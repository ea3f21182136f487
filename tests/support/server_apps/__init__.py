"""Applications the server-span tests serve under ``llmtrace-run`` (run from this folder)."""
