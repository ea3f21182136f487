"""bedrock: one GenAI CLIENT span per Amazon Bedrock Runtime model call made through botocore
(``boto3.client("bedrock-runtime")``): ``converse``, ``converse_stream``, ``invoke_model`` and
``invoke_model_with_response_stream``, provider ``aws.bedrock``.

botocore builds its client classes at run time, from the service's JSON model, and every
generated method (``client.converse(...)``) calls ``BaseClient._make_api_call(operation_name,
api_params)``. That one method is wrapped, so every client is covered, whether created before or
after the agent started; a call of another service or operation costs one dict lookup.

The wrapper runs around the whole botocore call (parameter validation, signing, retries), so the
urllib3 HTTP spans of its attempts are children of the model span. Streamed responses
(``response["stream"]`` / ``response["body"]``, botocore ``EventStream`` objects) are replaced by
a transparent proxy that ends the span once: at the end of the stream, on an exception event, on
``close()`` or when the abandoned stream is garbage-collected. ``invoke_model``'s body is read
when the call returns (the span then holds the usage the body reports) and handed over as a fresh
``StreamingBody`` with the same bytes.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from llmtrace_agent.toolkit.instrumentor import Wrapper

_SERVICE = "bedrock-runtime"


class BedrockInstrumentor(Instrumentor):
    """Traces Amazon Bedrock Runtime model calls made with botocore (and so boto3)."""

    name = "bedrock"
    targets = ("botocore",)
    requires = "botocore>=1.34.116,<2"  # 1.34.116: the first with Converse and ConverseStream

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("botocore.client", self._patch_client)

    def _patch_client(self, client_module: ModuleType) -> None:
        if not self.wrap(client_module, "BaseClient._make_api_call", self._api_call_wrapper()):
            raise RuntimeError("botocore.client.BaseClient._make_api_call not found")

    def _api_call_wrapper(self) -> Wrapper:
        """The wrapper of ``_make_api_call``: Bedrock model calls go through the GenAI wrapper
        of their operation, everything else straight through."""
        from llmtrace_agent.instrumentors.bedrock.converse import ConverseOperation
        from llmtrace_agent.instrumentors.bedrock.invoke import (
            OPERATIONS,
            InvokeModelOperation,
            decode_body,
            family_of,
        )
        from llmtrace_agent.toolkit import guard
        from llmtrace_agent.toolkit.genai import llm_wrapper

        converse = {
            "Converse": llm_wrapper(self, ConverseOperation()),
            "ConverseStream": llm_wrapper(self, ConverseOperation(streams=True)),
        }
        invoke = {
            (operation, family): llm_wrapper(self, InvokeModelOperation(family, streams))
            for family in OPERATIONS
            for operation, streams in (
                ("InvokeModel", False),
                ("InvokeModelWithResponseStream", True),
            )
        }
        traced_operations = frozenset(("Converse", "ConverseStream", *(op for op, _ in invoke)))

        def make_api_call(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: every botocore API call, of every AWS service.
            if len(args) != 2 or args[0] not in traced_operations:
                return wrapped(*args, **kwargs)
            traced = description = None
            try:
                operation_name, params = args
                if _service_of(instance) == _SERVICE and isinstance(params, dict):
                    traced = converse.get(operation_name)  # type: ignore[arg-type]
                    description = params
                    if traced is None:
                        model_id = params.get("modelId")
                        body = decode_body(params.get("body"))
                        traced = invoke[(operation_name, family_of(model_id, body))]  # type: ignore[index]
                        description = {"modelId": model_id, "body": body}
            except Exception as exc:
                guard.handle(exc)
                traced = None
            if traced is None:
                return wrapped(*args, **kwargs)
            return traced(_send, instance, (wrapped, *args), description)

        return make_api_call


def _service_of(client: object) -> object:
    return client._service_model.service_name  # type: ignore[attr-defined]


def _send(
    make_api_call: Callable[[object, object], object],
    operation_name: object,
    params: object,
    /,
    **_description: object,
) -> object:
    """Make the botocore call (the GenAI wrapper passes the call's description along too)."""
    return make_api_call(operation_name, params)
