import os

import pytest

# LiteLLM fetches its price map from GitHub at import unless told to use its bundled copy;
# tests talk to 127.0.0.1 only.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
pytest.importorskip("litellm")
