"""The README says what the code does: its configuration table, plugin example and commands."""

from __future__ import annotations

import re

from llmtrace_agent._runtime.config import markdown_table
from tests.support.agent import REPO

README = (REPO / "README.md").read_text()


def test_configuration_table_is_the_one_config_generates() -> None:
    header = "| variable | meaning | default |"
    start = README.index(header)
    end = README.find("\n\n", start)
    table = README[start : end if end != -1 else None].strip()
    assert table == markdown_table(), (
        "paste llmtrace_agent._runtime.config.markdown_table() into README"
    )


def test_plugin_section_shows_the_example_plugin_in_full() -> None:
    module = REPO / "examples" / "plugin_package" / "llmtrace_example_plugin.py"
    assert f"```python\n{module.read_text()}```" in README


def test_readme_starts_with_the_demo_and_test_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block[1].splitlines()]
    assert commands == ["scripts/demo", "scripts/test"]


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == "scripts/test"
