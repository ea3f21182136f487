"""The agent's version, read by packaging and reported in the telemetry resource."""

__version__ = "0.1.0"
