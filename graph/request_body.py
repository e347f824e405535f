"""Reading a GraphQL request's HTTP body, with a coded JSON error for every malformed one.

Strawberry's view reads ``data.get("query")`` from whatever the JSON was (a number as the body
was a 500 with a traceback, as were a 10,000-deep array and invalid UTF-8), and answers its own
refusals in plain text. Here a POSTed JSON body is read and checked before Strawberry sees it,
and every refusal is an ``HTTPException`` that ``error_response`` answers as GraphQL does::

    {"errors": [{"message": "...", "extensions": {"code": "BAD_REQUEST"}}]}

with a 4xx status: ``BAD_REQUEST`` (400: not JSON, not an object, too deep, not UTF-8, a batch,
a field of the wrong type, no query), ``OPERATION_RESOLUTION_FAILURE`` (400: an
``operationName`` the document does not hold, or none for a document of several),
``METHOD_NOT_ALLOWED`` (405: a mutation over GET) and ``UNSUPPORTED_MEDIA_TYPE`` (415). Like
any request error, there is no ``data`` key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.responses import Response
from strawberry.http import GraphQLRequestData, GraphQLRequestProtocol

__all__ = ["RequestError", "error_response", "read_request"]

# An escaped surrogate in the raw body: only then can the decoded text hold a lone one, which
# no UTF-8 encoder (orjson's, the database driver's) accepts.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SEND = 'send one operation as {"query": "...", "variables": {...}}'
_CODES = {400: "BAD_REQUEST", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}


class RequestError(HTTPException):
    """A malformed request: its status, a message that says what to send, and a code."""

    def __init__(self, message: str, *, status: int = 400, code: str = "BAD_REQUEST") -> None:
        super().__init__(status, message)
        self.code = code


def read_request(
    raw: bytes,
    protocol: GraphQLRequestProtocol,
    decode: Callable[[str], Any] = json.loads,
) -> GraphQLRequestData:
    """The one operation a POSTed JSON body holds, or ``RequestError`` saying what is wrong.

    ``decode`` is the view's JSON decoder (``GraphQLApp.decode_json`` keeps repeated keys).
    """
    data = _decode(raw, decode)
    if isinstance(data, list):
        raise RequestError(f"batched operations are not supported; {_SEND} per request")
    if not isinstance(data, dict):
        raise RequestError(f"the body is JSON but not an object; {_SEND}")
    query, variables = data.get("query"), data.get("variables")
    operation_name, extensions = data.get("operationName"), data.get("extensions")
    if query is None:
        raise RequestError(f"the body has no query; {_SEND}")
    if not isinstance(query, str):
        raise RequestError(f"query must be a string (the GraphQL document); {_SEND}")
    if not isinstance(variables, dict | None):
        raise RequestError('variables must be an object, e.g. {"rows": [[5.1, 3.5, 1.4, 0.2]]}')
    if not isinstance(operation_name, str | None):
        raise RequestError("operationName must be a string: the name of an operation in query")
    if not isinstance(extensions, dict | None):
        raise RequestError("extensions must be an object")
    return GraphQLRequestData(
        query=query,
        variables=variables,
        operation_name=operation_name,
        extensions=extensions,
        protocol=protocol,
    )


def _decode(raw: bytes, decode: Callable[[str], Any]) -> Any:
    if not raw.strip():
        raise RequestError(f"the body is empty; {_SEND}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        # The json module, not orjson: it reads the NaN and Infinity some clients' JSON
        # libraries write, which then get a coded BAD_USER_INPUT from classify's own check.
        data = decode(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"the body is not JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise RequestError("the body is nested too deeply") from None
    if _ESCAPED_SURROGATE.search(raw) and _holds_lone_surrogate(data):
        raise RequestError("the body holds a \\u escape of half a UTF-16 surrogate pair")
    return data


def _holds_lone_surrogate(data: Any) -> bool:
    stack = [data]  # iterative: the body may be nested almost as deep as json allows
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def error_response(error: HTTPException) -> tuple[Response, str]:
    """The JSON answer to a refused request, and its code (Strawberry's own refusals too)."""
    code = getattr(error, "code", None) or _CODES.get(error.status_code, "BAD_REQUEST")
    body = {"errors": [{"message": error.reason, "extensions": {"code": code}}]}
    response = Response(
        orjson.dumps(body), status_code=error.status_code, media_type="application/json"
    )
    return response, code
