"""A model's own metadata, passed on as its server answered it (the Seldon and V2 routes)."""

from __future__ import annotations

from starlette.responses import Response

import mlclient
from graph.errors import from_model_error

__all__ = ["metadata_response"]


async def metadata_response(client: mlclient.SeldonClient | mlclient.V2Client) -> Response:
    """The model's metadata answer unchanged, or its failure as a coded error."""
    try:
        answer = await client.metadata_answer()
    except mlclient.ModelError as exc:
        raise from_model_error(exc) from exc
    return Response(answer.content, media_type="application/json")
