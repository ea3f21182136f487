"""Shared test machinery: the OTLP receiver, the agent in this process and in subprocesses."""
