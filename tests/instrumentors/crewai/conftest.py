import os

import pytest

# CrewAI's anonymous telemetry goes to its vendor at import; tests talk to 127.0.0.1 only (the
# subprocess test that checks it points it at a loopback server instead).
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
pytest.importorskip("crewai")
