"""The package list, which pyproject.toml cannot express with the instrumentors mapped in."""

from setuptools import find_packages, setup

BUILTINS = "llmtrace_agent.instrumentors"

setup(
    packages=[
        *find_packages("src"),
        BUILTINS,
        *(f"{BUILTINS}.{name}" for name in find_packages("instrumentors")),
    ]
)
