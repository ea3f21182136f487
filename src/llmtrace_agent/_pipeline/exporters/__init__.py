"""Span exporters of the agent's own: the console tree and the OTLP/JSON lines file."""
