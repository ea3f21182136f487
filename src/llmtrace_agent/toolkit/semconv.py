"""Attribute and metric names: the one place they are spelled.

Stable names (HTTP, server, url, error) are re-exported from ``opentelemetry.semconv.attributes``.
The GenAI conventions moved out of the core semantic-conventions repository into
``open-telemetry/semantic-conventions-genai``; the Python package marks its GenAI constants
deprecated and lags the spec (it still says ``cache_creation`` where the spec now says
``cache_write``). So the GenAI names below are ours, written from the current GenAI spec
(``docs/gen-ai/client-inference.md`` and ``gen-ai-metrics.md``). Names no convention defines
are at the bottom, each with the reason for its choice.
"""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes.aws_attributes import (
    AWS_BEDROCK_GUARDRAIL_ID,
    AWS_REQUEST_ID,
)
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_CLIENT_ID,
    MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
)
from opentelemetry.semconv._incubating.attributes.session_attributes import (
    SESSION_ID as _SESSION_ID,
)
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_ID as _USER_ID
from opentelemetry.semconv.attributes.client_attributes import CLIENT_ADDRESS, CLIENT_PORT
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_HEADER_TEMPLATE,
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL,
    HTTP_REQUEST_RESEND_COUNT,
    HTTP_RESPONSE_HEADER_TEMPLATE,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.network_attributes import NETWORK_PROTOCOL_VERSION
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import (
    URL_FULL,
    URL_PATH,
    URL_QUERY,
    URL_SCHEME,
)
from opentelemetry.semconv.attributes.user_agent_attributes import USER_AGENT_ORIGINAL

# --- GenAI client inference spans -------------------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID = "gen_ai.request.previous_response.id"
GEN_AI_REQUEST_REASONING_LEVEL = "gen_ai.request.reasoning.level"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"  # latest
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"  # v1.41
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
# Opt-in content. The spec prefers structured values; the Python SDK accepts only primitives and
# their arrays, so these hold JSON strings following gen-ai-input-messages.json and friends.
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
# Provider-specific (docs/gen-ai/openai.md)
OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"
OPENAI_API_TYPE = "openai.api.type"

# --- GenAI agent, tool, workflow and retrieval spans (gen-ai-agent-spans.md, gen-ai-spans.md) ---
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_AGENT_DESCRIPTION = "gen_ai.agent.description"
GEN_AI_AGENT_VERSION = "gen_ai.agent.version"
GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"  # opt-in content
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"  # opt-in content
GEN_AI_DATA_SOURCE_ID = "gen_ai.data_source.id"
GEN_AI_RETRIEVAL_TOP_K = "gen_ai.retrieval.top_k"  # latest; v1.41 says gen_ai.request.top_k
GEN_AI_RETRIEVAL_QUERY_TEXT = "gen_ai.retrieval.query.text"  # opt-in content
GEN_AI_RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"  # opt-in: [{"id", "score"}] as JSON
GEN_AI_PROMPT_NAME = "gen_ai.prompt.name"  # a prompt template's name (MCP prompts/get)

# Framework-specific: what a framework has beyond the GenAI spans (CrewAI's tasks)
CREWAI_TASK_NAME = "crewai.task.name"
CREWAI_TASK_ID = "crewai.task.id"

# --- Databases (docs/db/database-spans.md): vector stores ------------------------------------
DB_SYSTEM_NAME = "db.system.name"
DB_COLLECTION_NAME = "db.collection.name"
DB_NAMESPACE = "db.namespace"
DB_OPERATION_NAME = "db.operation.name"
DB_OPERATION_BATCH_SIZE = "db.operation.batch.size"
DB_QUERY_TEXT = "db.query.text"
DB_QUERY_SUMMARY = "db.query.summary"
DB_RESPONSE_RETURNED_ROWS = "db.response.returned_rows"
DB_RESPONSE_STATUS_CODE = "db.response.status_code"

# --- MCP (docs/gen-ai/mcp.md) ------------------------------------------------------------------
MCP_METHOD_NAME = "mcp.method.name"
MCP_PROTOCOL_VERSION = "mcp.protocol.version"
MCP_SESSION_ID = "mcp.session.id"
MCP_RESOURCE_URI = "mcp.resource.uri"
JSONRPC_REQUEST_ID = "jsonrpc.request.id"
JSONRPC_PROTOCOL_VERSION = "jsonrpc.protocol.version"
RPC_RESPONSE_STATUS_CODE = "rpc.response.status_code"
NETWORK_TRANSPORT = "network.transport"
NETWORK_PROTOCOL_NAME = "network.protocol.name"
MCP_CLIENT_OPERATION_DURATION = "mcp.client.operation.duration"
MCP_SERVER_OPERATION_DURATION = "mcp.server.operation.duration"
MCP_OPERATION_DURATION_BUCKETS = (
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300,
)  # fmt: skip

# --- GenAI client metrics ---------------------------------------------------------------------
GEN_AI_CLIENT_TOKEN_USAGE = "gen_ai.client.token.usage"
GEN_AI_CLIENT_OPERATION_DURATION = "gen_ai.client.operation.duration"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
TOKEN_USAGE_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
OPERATION_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
# The newest, unreleased GenAI conventions (semantic-conventions-genai, after v1.41), emitted
# only with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental (``genai.conventions``).
GEN_AI_CLIENT_INFERENCE_DURATION = "gen_ai.client.inference.duration"
GEN_AI_CLIENT_INFERENCE_INPUT_TOKENS = "gen_ai.client.inference.operation.input_tokens"
GEN_AI_CLIENT_INFERENCE_OUTPUT_TOKENS = "gen_ai.client.inference.operation.output_tokens"
GEN_AI_CLIENT_INFERENCE_USAGE = "gen_ai.client.inference.usage."  # + input_tokens, … (counters)
GEN_AI_CLIENT_EMBEDDINGS_DURATION = "gen_ai.client.embeddings.duration"
GEN_AI_CLIENT_EMBEDDINGS_INPUT_TOKENS = "gen_ai.client.embeddings.operation.input_tokens"
GEN_AI_TOKEN_MODALITY = "gen_ai.token.modality"
GEN_AI_INVOKE_AGENT_DURATION = "gen_ai.invoke_agent.duration"
GEN_AI_INVOKE_WORKFLOW_DURATION = "gen_ai.invoke_workflow.duration"
GEN_AI_EXECUTE_TOOL_DURATION = "gen_ai.execute_tool.duration"
GEN_AI_INVOKE_AGENT_INFERENCE_CALLS = "gen_ai.invoke_agent.inference_calls"
GEN_AI_INVOKE_AGENT_TOOL_CALLS = "gen_ai.invoke_agent.tool_calls"
INVOCATION_DURATION_BUCKETS = (
    0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6,
)  # fmt: skip
WORKFLOW_DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
CALL_COUNT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)

# --- Messaging (docs/messaging/messaging-spans.md; task queues) -----------------------------------
# messaging.system has well-known values (rabbitmq, aws_sqs, kafka…) that MUST be used when one
# applies, and allows a custom value otherwise; messaging.operation.type is "send" or "process".

# --- Not in any OpenTelemetry convention ---------------------------------------------------------
CELERY_TASK_NAME = "celery.task.name"
"""The Celery task's registered name (``proj.tasks.summarize``): low-cardinality, and what the
spans are named after. The messaging conventions define no ``celery`` namespace (Celery is no
registered messaging system); ``celery.*`` is the OpenTelemetry contrib instrumentation's."""
CELERY_TASK_STATE = "celery.task.state"
"""How a task run ended, in Celery's words: ``SUCCESS``, ``FAILURE``, ``RETRY``, ``REJECTED``,
``IGNORED``."""
CELERY_TASK_RETRIES = "celery.task.retries"
"""How many times the task was retried before this run (``task.request.retries``), when not 0."""

GEN_AI_USAGE_COST = "gen_ai.usage.cost"
"""Cost of the call in USD (float). The conventions define none; this is the name Langfuse reads
for cost, so the number shows up there without mapping."""

DB_RECORDS_AFFECTED = "llmtrace.db.records_affected"
"""Records a vector-store write or delete touched (int). The database conventions count returned
rows (``db.response.returned_rows``) but nothing written; named in our own namespace
so it never clashes with a name the conventions define later."""

PINECONE_NAMESPACE = "pinecone.namespace"
"""The Pinecone namespace (a partition of an index) an operation ran in, when not the default.
Not ``db.namespace``: that names what holds the collection (a database), and a Pinecone
namespace is inside the index (the collection)."""

CLIENT_DISCONNECTED_EVENT = "http.client_disconnected"
"""Event on a server span whose client went away before the response was complete (a closed
browser tab during a streamed answer). The HTTP conventions define none; the span keeps its
status (the server did not fail), and the event's timestamp says when it happened."""

# The OpenAI Agents SDK's handoffs and guardrails: the GenAI conventions (v1.41) name neither.
OPENAI_AGENTS_HANDOFF_FROM_AGENT = "openai_agents.handoff.from_agent"
OPENAI_AGENTS_HANDOFF_TO_AGENT = "openai_agents.handoff.to_agent"
OPENAI_AGENTS_GUARDRAIL_NAME = "openai_agents.guardrail.name"
OPENAI_AGENTS_GUARDRAIL_TRIGGERED = "openai_agents.guardrail.triggered"
"""Whether the guardrail's tripwire fired (the run then stops with a ``…TripwireTriggered``)."""

CREWAI_FLOW_METHOD_NAME = "crewai.flow.method.name"
"""The CrewAI Flow method (a ``@start`` / ``@listen`` / ``@router`` step) a span runs: the app's
own name for the step, low-cardinality. The GenAI conventions have workflows, not their steps."""

# --- Your own code: observe() and attributes() ---------------------------------------------------
# session.id and user.id are the semantic conventions' own (session and user registries); Langfuse
# and Phoenix both read them. The rest is what both read where the conventions say nothing.
SESSION_ID = _SESSION_ID
USER_ID = _USER_ID
INPUT_VALUE = "input.value"
"""A function's arguments (JSON) or text input: OpenInference's name, which Phoenix shows and
Langfuse maps to an observation's input."""
INPUT_MIME_TYPE = "input.mime_type"
OUTPUT_VALUE = "output.value"
"""A function's return value, as ``INPUT_VALUE``."""
OUTPUT_MIME_TYPE = "output.mime_type"
TAG_TAGS = "tag.tags"
"""String array: OpenInference's tags, which Langfuse also reads as the trace's tags."""
METADATA = "metadata"
"""JSON object string: OpenInference's metadata, which Phoenix shows."""
LANGFUSE_TRACE_METADATA_PREFIX = "langfuse.trace.metadata."
"""Langfuse ignores ``metadata``; one ``langfuse.trace.metadata.<key>`` per key is its filterable
form."""

__all__ = [
    "AWS_BEDROCK_GUARDRAIL_ID",
    "AWS_REQUEST_ID",
    "CLIENT_ADDRESS",
    "CLIENT_PORT",
    "CLIENT_DISCONNECTED_EVENT",
    "ERROR_TYPE",
    "HTTP_REQUEST_HEADER_TEMPLATE",
    "HTTP_REQUEST_METHOD",
    "HTTP_REQUEST_METHOD_ORIGINAL",
    "HTTP_REQUEST_RESEND_COUNT",
    "HTTP_RESPONSE_HEADER_TEMPLATE",
    "HTTP_RESPONSE_STATUS_CODE",
    "MESSAGING_CLIENT_ID",
    "MESSAGING_DESTINATION_NAME",
    "MESSAGING_MESSAGE_ID",
    "MESSAGING_OPERATION_NAME",
    "MESSAGING_OPERATION_TYPE",
    "MESSAGING_SYSTEM",
    "HTTP_ROUTE",
    "NETWORK_PROTOCOL_VERSION",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "URL_FULL",
    "URL_PATH",
    "URL_QUERY",
    "URL_SCHEME",
    "USER_AGENT_ORIGINAL",
    *(
        name
        for name in list(globals())
        if name.startswith(("GEN_AI_", "OPENAI_", "CELERY_", "DB_", "MCP_", "JSONRPC_"))
    ),
    "PINECONE_NAMESPACE",
    "NETWORK_PROTOCOL_NAME",
    "NETWORK_TRANSPORT",
    "RPC_RESPONSE_STATUS_CODE",
    "INPUT_MIME_TYPE",
    "INPUT_VALUE",
    "LANGFUSE_TRACE_METADATA_PREFIX",
    "METADATA",
    "OUTPUT_MIME_TYPE",
    "OUTPUT_VALUE",
    "SESSION_ID",
    "TAG_TAGS",
    "USER_ID",
    "CALL_COUNT_BUCKETS",
    "INVOCATION_DURATION_BUCKETS",
    "OPERATION_DURATION_BUCKETS",
    "TOKEN_USAGE_BUCKETS",
    "WORKFLOW_DURATION_BUCKETS",
]
