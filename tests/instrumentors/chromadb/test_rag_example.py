"""examples/rag_chroma.py under the real launcher, zero code: ``llmtrace-run python
examples/rag_chroma.py``, its models a loopback fake of OpenAI. One trace per answer: the
question's embedding, the Chroma search, the chat call, in that order."""

from __future__ import annotations

import json

from llmtrace_agent.toolkit import semconv
from tests.support.agent import REPO, run_traced
from tests.support.fake_openai import API_KEY, FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver

EXAMPLE = str(REPO / "examples" / "rag_chroma.py")
QUESTION = "Where can I swim in winter?"


def _run(receiver: OTLPReceiver, fake_openai: FakeOpenAI, **settings: str) -> str:
    env = {
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_API_KEY": API_KEY,
        "ANONYMIZED_TELEMETRY": "False",
        **settings,
    }
    run = run_traced([EXAMPLE, QUESTION], receiver, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Failed to detach context" not in run.stderr
    return run.stdout


def test_an_answer_is_one_trace_embed_search_chat_in_order(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    stdout = _run(receiver, fake_openai)

    assert stdout.strip() == "Hello from the fake server!"
    (answer,) = receiver.wait_for_spans(1, 10, lambda s: s.name == "answer")
    steps = sorted(
        (s for s in receiver.spans if s.parent_span_id == answer.span_id),
        key=lambda s: s.start_ns,
    )
    assert [s.name for s in steps] == [
        "embeddings text-embedding-3-small",
        "retrieval notes",
        "chat gpt-4o-mini",
    ]
    assert {s.trace_id for s in steps} == {answer.trace_id}
    embed, search, chat = steps
    assert embed.end_ns <= search.start_ns and search.end_ns <= chat.start_ns
    assert search.attributes[semconv.DB_SYSTEM_NAME] == "chroma"
    assert search.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 2.0
    assert search.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    # Exactly one model span per request the fake got (the index's embedding, the question's,
    # the chat), and the index's add, outside the answer.
    model_spans = [s for s in receiver.spans if semconv.GEN_AI_PROVIDER_NAME in s.attributes]
    assert len(model_spans) == len(fake_openai.requests) == 3
    assert [s.name for s in receiver.spans if s.name.startswith("add ")] == ["add notes"]
    exported = receiver.all_bytes()
    assert b"swim" not in exported and API_KEY.encode() not in exported  # content off


def test_with_capture_on_the_search_shows_what_the_answer_was_built_from(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    _run(receiver, fake_openai, LLMTRACE_CAPTURE_CONTENT="true")

    (search,) = receiver.wait_for_spans(1, 10, lambda s: s.name == "retrieval notes")
    found = json.loads(search.attributes[semconv.GEN_AI_RETRIEVAL_DOCUMENTS])
    assert len(found) == 2
    assert all(set(document) == {"id", "score", "content"} for document in found)
    assert {document["id"] for document in found} <= {"lisbon", "oslo", "vienna"}
    (chat,) = receiver.wait_for_spans(1, 10, lambda s: s.name == "chat gpt-4o-mini")
    system = json.loads(chat.attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS])
    assert found[0]["content"] in system[0]["content"]  # the notes the answer was built from
