"""The mcp instrumentor's tests: skipped as a whole when the mcp SDK is not installed.

The in-process tests are per major (mcp 1's FastMCP and memory-stream session pair, mcp 2's
``Client(server)``); the two-process tests run on both (their apps adapt to 2's renamed API).
"""

from importlib.metadata import version

import pytest

pytest.importorskip("mcp")

MCP_MAJOR = int(version("mcp").split(".")[0])
collect_ignore = ["test_mcp_in_process.py" if MCP_MAJOR >= 2 else "test_mcp2_in_process.py"]
