"""Opaque page cursors: a row's place in "newest first" order, encoded for clients."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import db
from db.predictions import Keyset
from graph.errors import BadUserInput
from graph.validation import utc

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(row: db.PredictionRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> Keyset:
    """The keyset a cursor names; a ``BAD_USER_INPUT`` error for anything we did not issue."""
    try:
        created_at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        keyset = Keyset(created_at=datetime.fromisoformat(created_at), id=uuid.UUID(row_id))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadUserInput(
            "'after' is not a cursor returned by this API: pass a pageInfo.endCursor",
            argument="after",
        ) from exc
    if keyset.created_at.tzinfo is None:
        raise BadUserInput("'after' is not a cursor returned by this API", argument="after")
    return Keyset(created_at=utc(keyset.created_at, argument="after"), id=keyset.id)
