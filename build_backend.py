"""setuptools, with editable installs in strict mode by default.

The built-in instrumentors live in the top-level ``instrumentors/`` folder and install as
``llmtrace_agent.instrumentors``. With such a mapping, setuptools' default editable mode installs
an import hook that every Python process then loads at start-up (~12 ms, half the agent's own
start-up budget). Strict mode links the files instead (free at start-up); the price is that a
file added later needs ``pip install -e .`` again. ``--config-settings editable_mode=...`` still
chooses another mode.
"""

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403 (every other hook is setuptools' own)


def build_editable(
    wheel_directory: str,
    config_settings: dict | None = None,
    metadata_directory: str | None = None,
) -> str:
    settings = {"editable_mode": "strict", **(config_settings or {})}
    return build_meta.build_editable(wheel_directory, settings, metadata_directory)
