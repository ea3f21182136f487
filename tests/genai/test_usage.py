"""Cost: the cached flat-rate path must agree with genai-prices' own calculation."""

import pytest
from genai_prices import Usage as PricesUsage
from genai_prices import calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtrace_agent.toolkit.genai.usage import Usage, cost_usd

MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1"),
    ("openai", "text-embedding-3-small"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("anthropic", "claude-sonnet-4-5"),  # tiered prices: the slow path
]


@pytest.mark.parametrize(("provider", "model"), MODELS)
@settings(max_examples=25, deadline=None)
@given(
    input_tokens=st.integers(0, 400_000),
    output_tokens=st.integers(0, 50_000),
    cache_read=st.integers(0, 1000),
    cache_write=st.integers(0, 1000),
)
def test_cost_matches_genai_prices(
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read: int,
    cache_write: int,
) -> None:
    input_tokens += cache_read + cache_write  # the spec's input count includes cached tokens
    ours = cost_usd(
        provider, model, Usage(input_tokens, output_tokens, cache_read or None, cache_write or None)
    )
    theirs = calc_price(
        PricesUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read or None,
            cache_write_tokens=cache_write or None,
        ),
        model_ref=model,
        provider_id=provider,
    ).total_price
    assert ours == pytest.approx(float(theirs), rel=1e-9, abs=1e-12)


def test_unknown_model_has_no_cost() -> None:
    assert cost_usd("openai", "no-such-model-anywhere", Usage(10, 10)) is None


def test_missing_usage_has_no_cost() -> None:
    assert cost_usd("openai", "gpt-4o-mini", Usage()) is None


@pytest.mark.parametrize("bad", [-1, "12", 1.5, None, True])
def test_usage_ignores_counts_that_are_not_token_counts(bad: object) -> None:
    assert Usage(input=bad).input is None  # type: ignore[arg-type]
