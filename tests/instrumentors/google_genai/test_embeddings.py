"""google-genai ``embed_content`` on both backends: one ``embeddings`` span per request, with
the input tokens where the API reports them."""

from __future__ import annotations

import asyncio

from google.genai import types

from tests.instrumentors.google_genai.test_generate_content import client, genai_span
from tests.support import fake_gemini as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_gemini import FakeGemini

GEMINI_EMBEDDING = "gemini-embedding-001"
VERTEX_EMBEDDING = "text-embedding-005"


def test_gemini_api_embeddings_record_an_embeddings_span(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    response = client(fake_gemini).models.embed_content(
        model=GEMINI_EMBEDDING,
        contents=["first", "second"],
        config=types.EmbedContentConfig(output_dimensionality=4),
    )
    span = genai_span(agent, f"embeddings {GEMINI_EMBEDDING}")
    assert [e.values for e in response.embeddings] == [fake.EMBEDDING] * 2
    assert span.kind == "CLIENT"
    assert span.attributes == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": GEMINI_EMBEDDING,
        "gen_ai.embeddings.dimension.count": 4,
        "server.address": "127.0.0.1",
        "server.port": fake_gemini.port,
    }
    assert fake_gemini.only_request().path.endswith(":batchEmbedContents")


def test_vertex_ai_predict_embeddings_sum_the_token_counts_of_each_embedding(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    client(fake_gemini, vertexai=True).models.embed_content(
        model=VERTEX_EMBEDDING, contents=["first", "second"]
    )
    span = genai_span(agent, f"embeddings {VERTEX_EMBEDDING}")
    assert span.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert span.attributes["gen_ai.usage.input_tokens"] == 2 * fake.EMBED_TOKENS
    assert fake_gemini.only_request().path.endswith(":predict")


def test_vertex_ai_embed_content_takes_the_reported_usage_and_is_priced(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    client(fake_gemini, vertexai=True).models.embed_content(
        model=GEMINI_EMBEDDING, contents="first"
    )
    span = genai_span(agent, f"embeddings {GEMINI_EMBEDDING}")
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.EMBED_TOKENS
    assert span.attributes["gen_ai.usage.cost"] > 0
    assert len(fake_gemini.requests) == 1


def test_async_embeddings_record_one_span(agent: InProcessAgent, fake_gemini: FakeGemini) -> None:
    async def main() -> None:
        await client(fake_gemini).aio.models.embed_content(model=GEMINI_EMBEDDING, contents="x")

    asyncio.run(main())
    span = genai_span(agent, f"embeddings {GEMINI_EMBEDDING}")
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert len(fake_gemini.requests) == 1
