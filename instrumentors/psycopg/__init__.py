"""psycopg (3.x): one CLIENT span per query the application sends to PostgreSQL, following the
database conventions' PostgreSQL page (``docs/db/postgresql.md``); a pgvector similarity search
(``<->``, ``<=>``, ``<#>``, ``<+>``) is also a GenAI retrieval span, ``retrieval {table}``.

Covered, sync and async: ``Cursor.execute`` / ``executemany`` (and so ``Connection.execute``,
which runs a cursor's, and every cursor class deriving from ``Cursor``: ``ClientCursor``,
``RawCursor``), ``ServerCursor.execute``. SQLAlchemy's ``postgresql+psycopg`` dialect runs its
statements through these, so it gets the same spans. psycopg's own type look-ups
(``TypeInfo.fetch``, run by ``pgvector.psycopg.register_vector``) make none.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class PsycopgInstrumentor(Instrumentor):
    """Traces psycopg 3 queries (and pgvector similarity searches as retrievals)."""

    name = "psycopg"
    targets = ("psycopg",)
    requires = "psycopg>=3.1.4,<4"  # 3.1.4: the first with a psycopg-binary wheel for 3.11

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.psycopg.spans import (
            async_execute_wrapper,
            async_quiet_wrapper,
            execute_wrapper,
            quiet_wrapper,
        )

        execute, execute_many = execute_wrapper(self, False), execute_wrapper(self, True)
        async_execute = async_execute_wrapper(self, False)
        if not self.wrap(module, "Cursor.execute", execute):
            raise RuntimeError("psycopg has no Cursor.execute to instrument")
        self.wrap(module, "Cursor.executemany", execute_many)
        self.wrap(module, "ServerCursor.execute", execute)
        self.wrap(module, "AsyncCursor.execute", async_execute)
        self.wrap(module, "AsyncCursor.executemany", async_execute_wrapper(self, True))
        self.wrap(module, "AsyncServerCursor.execute", async_execute)
        # fetch runs the sync look-up (itself in 3.1, through _fetch later) and returns
        # _fetch_async's coroutine for an async connection.
        self.wrap(module, "types.TypeInfo.fetch", quiet_wrapper)
        self.wrap(module, "types.TypeInfo._fetch_async", async_quiet_wrapper)


__all__ = ["PsycopgInstrumentor"]
