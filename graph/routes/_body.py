"""Reading a protocol route's JSON body: one coded ``BAD_USER_INPUT`` for every malformed one."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from graph.errors import BadUserInput
from graph.features import json_object

__all__ = ["read_json"]


async def read_json(request: Request, *, example: str) -> Any:
    """The request's body as JSON, whatever its content type (curl's ``-d`` without a header
    sends a form type, and the Seldon wrapper reads it all the same); ``example`` shows what to
    send. Repeated keys are marked (``graph.features.json_object``) for the record checks."""
    raw = await request.body()
    if not raw.strip():
        raise BadUserInput(f"the body is empty; send {example}", argument="body")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadUserInput(
            f"the body is not valid UTF-8 (byte {exc.start})", argument="body"
        ) from None
    try:
        # The json module, not orjson: it reads the NaN and Infinity some clients write, which
        # the row checks then refuse by name.
        return json.loads(text, object_pairs_hook=json_object)
    except json.JSONDecodeError as exc:
        raise BadUserInput(
            f"the body is not JSON ({exc.msg} at character {exc.pos}); send {example}",
            argument="body",
        ) from None
    except RecursionError:
        raise BadUserInput("the body is nested too deeply", argument="body") from None
