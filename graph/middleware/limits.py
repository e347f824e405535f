"""Limits on what one request may ask of the server, each failing with a coded error.

Batch size, features per row and page size are checked by the resolvers (graph/validation.py);
this module holds the ones that act before a resolver runs: the request body size (an ASGI
middleware) and the document's depth, aliases and tokens (``DocumentLimits``, applied to every
operation by graph/operation.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    parse,
    specified_rules,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import DisableIntrospection, MaxAliasesLimiter, QueryDepthLimiter

from graph.settings import Settings

__all__ = ["BodySizeLimit", "DocumentLimits", "ErrorBody", "document_limits", "limit_code"]

# (path, message, code, status) -> the error body for that path, or None for GraphQL's shape.
ErrorBody = Callable[[str, str, str, int], bytes | None]

# Strawberry's and graphql-core's messages for each limit, and the code each one gets.
_LIMIT_MESSAGES = {
    "exceeds maximum operation depth": "QUERY_TOO_DEEP",
    "aliases found. Allowed:": "TOO_MANY_ALIASES",
    "Document contains more than": "TOO_MANY_TOKENS",
    "introspection has been disabled": "INTROSPECTION_DISABLED",
}


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """What every operation's document is held to, and the cache that spares re-doing it.

    Built once per schema and applied by graph/operation.py (the plain path and
    ``OperationHooks``). ``check`` parses a query's text and validates it, remembered by the
    text: keyed by the parsed document instead, every hit hashed its whole syntax tree, about
    10 µs for classify's (bench/RESULTS.md). A parse error is raised, not remembered.
    """

    max_tokens: int
    # graphql-core's rules, then the depth, alias and introspection limits. Strawberry's
    # limiters define a new rule class per instance, so they are made once, here.
    rules: tuple[type[ASTValidationRule], ...]
    # Bounded LRU cache: distinct query texts from the public cannot grow memory without limit.
    check: Callable[[GraphQLSchema, str], tuple[DocumentNode, list[GraphQLError]]]


def document_limits(settings: Settings) -> DocumentLimits:
    """The limits the settings ask for, with a cache of checked documents of their own."""
    # Strawberry's validate_document adds its own rules (Maybe, @oneOf) to ours, as its
    # ValidationCache does.
    from strawberry.schema.schema import validate_document

    rules = (
        *specified_rules,
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        *(DisableIntrospection().validation_rules if not settings.introspection else ()),
    )
    max_tokens = settings.max_tokens

    def check(schema: GraphQLSchema, query: str) -> tuple[DocumentNode, list[GraphQLError]]:
        document = parse(query, max_tokens=max_tokens)
        return document, validate_document(schema, document, rules)

    return DocumentLimits(
        max_tokens=max_tokens,
        rules=rules,
        check=lru_cache(maxsize=settings.document_cache_size)(check),
    )


def limit_code(message: str) -> str | None:
    """The code of a limit's error message, or None for other errors."""
    for fragment, code in _LIMIT_MESSAGES.items():
        if fragment in message:
            return code
    return None


class BodySizeLimit:
    """Answer 413 with a coded error for bodies over ``max_bytes``: GraphQL-style, or in the
    shape ``error_body`` gives for the request's path (the Seldon and V2 routes').

    Checks ``Content-Length`` first and also counts streamed chunks, so a chunked upload
    without a length cannot get past it.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, error_body: ErrorBody | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(scope, send)
            return

        received = 0
        too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # To the app the client has gone away: it stops reading and answers
                    # nothing we pass on. Raising instead would reach the GraphQL view,
                    # which turns exceptions into 200 responses.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not too_large:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large:
            await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        message = f"request body over {self.max_bytes} bytes; send fewer rows per call"
        shaped = self.error_body and self.error_body(
            scope["path"], message, "PAYLOAD_TOO_LARGE", 413
        )
        # A request error, as GraphQL over HTTP has it: nothing ran, so no "data".
        graphql = {"errors": [{"message": message, "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]}
        body = shaped or json.dumps(graphql).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
