"""Property-based tests: whatever a client sends or a model answers, mlgraph answers with a code.

Hypothesis draws classify inputs (ragged, empty, huge and tiny numbers, NaN, long and unicode
request ids), model answers (valid, garbage bodies and statuses, transport errors) and every
filter of the history queries. Properties: the HTTP status is 200 (413 for an over-limit body),
every error carries a code from the known set and never ``INTERNAL``, and the database holds
exactly the rows of the calls that returned new predictions.

The app and database fixtures are function-scoped and shared by a test's examples (hence the
suppressed health check), so each example deletes the stored rows itself before it runs.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

import db
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, PREDICTIONS
from tests.utils.builders import create_random_prediction

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Codes a healthy database and these inputs may produce; INTERNAL (a bug) is never one of them.
KNOWN_CODES = frozenset(
    {
        "BAD_USER_INPUT",
        "BAD_MODEL_RESPONSE",
        "MODEL_UNAVAILABLE",
        "CONFLICT",
        "GRAPHQL_VALIDATION_FAILED",
        "PAYLOAD_TOO_LARGE",
    }
)
MAX_BODY_BYTES = 2048  # small, so that some drawn batches meet the body limit
CLASSES = ["setosa", "versicolor", "virginica"]
PREDICTION = "query Prediction($id: ID!) { prediction(id: $id) { id label features } }"

Responder = Callable[[int], httpx.Response]


# --- strategies ------------------------------------------------------------------------------

# The whole of Unicode, NUL included (it once crashed PostgreSQL queries; see
# test_inputs_that_once_crashed_are_coded), bar lone surrogates, which JSON cannot carry.
unicode = st.characters(codec="utf-8")


def texts(max_size: int) -> st.SearchStrategy[str]:
    return st.text(unicode, max_size=max_size)


# Anything JSON can carry as a number, including what Python's json writes for NaN/Infinity.
numbers = st.floats() | st.integers() | st.sampled_from([5e-324, 1.7976931348623157e308, -0.0])
rows_strategy = st.lists(st.lists(numbers, max_size=6), max_size=8)
request_ids = st.none() | st.sampled_from(["r-1", "r-2"]) | texts(250)
json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | texts(30)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts(8), inner),
    max_leaves=12,
)


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def _valid(rows: int) -> httpx.Response:
    """What the iris model answers: a probability per class for every row."""
    ndarray = [[0.1, 0.3, 0.6][i % 3 :] + [0.1, 0.3, 0.6][: i % 3] for i in range(rows)]
    return httpx.Response(200, json={"data": {"names": CLASSES, "ndarray": ndarray}})


@st.composite
def responders(draw: st.DrawFn) -> Responder:
    """One model answer: valid, a transport error, or a garbage body with any status."""
    kind = draw(st.sampled_from(["valid", "raise", "bytes", "json", "near-valid", "tensor"]))
    status = draw(st.sampled_from([200, 200, 200, 400, 404, 422, 500, 502, 503, 504]))
    if kind == "valid":
        return _valid
    if kind == "raise":
        error = draw(
            st.sampled_from(
                [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError]
            )
        )

        def fail(rows: int) -> httpx.Response:
            raise error("fuzzed transport failure")

        return fail
    if kind == "bytes":
        content = draw(st.binary(max_size=200))
        return lambda rows: httpx.Response(status, content=content)
    if kind == "json":
        content = _encode(draw(json_values))
        return lambda rows: httpx.Response(status, content=content)
    # Well-formed envelopes with arbitrary rows, labels and names, sized to the request or not.
    values = draw(st.lists(json_values, min_size=1, max_size=4))
    names = draw(st.none() | st.lists(json_leaves, max_size=4) | st.lists(texts(20), max_size=4))
    fit = draw(st.booleans())

    def answer(rows: int) -> httpx.Response:
        count = rows if fit else len(values)
        ndarray = [values[i % len(values)] for i in range(count)]
        if kind == "tensor":
            data: dict[str, Any] = {"tensor": {"shape": [count], "values": ndarray}}
        else:
            data = {"ndarray": ndarray}
        if names is not None:
            data["names"] = names
        return httpx.Response(status, content=_encode({"data": data}))

    return answer


def _timestamps() -> st.SearchStrategy[str]:
    offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
        lambda d: timezone(timedelta(minutes=d // timedelta(minutes=1)))
    )
    zones: Any = st.one_of(st.none(), offsets)  # hypothesis types this argument too narrowly
    aware = st.datetimes(timezones=zones)  # the calendar's ends included
    return aware.map(datetime.isoformat) | st.dates().map(str) | texts(40)


def _cursors() -> st.SearchStrategy[str]:
    forged = st.builds(
        lambda when, id_: f"{when}|{id_}",
        _timestamps(),
        st.uuids().map(str) | texts(40),
    ) | texts(60)
    encoded = forged.map(lambda raw: base64.urlsafe_b64encode(raw.encode()).decode())
    return encoded | texts(60)


# --- the app with a scripted model -------------------------------------------------------------


@dataclass
class ScriptedModel:
    """A model over httpx.MockTransport: the next scripted answer, or a valid one."""

    script: deque[Responder] = field(default_factory=deque)
    calls: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        try:
            rows = len(json.loads(request.content)["data"]["ndarray"])
        except (ValueError, KeyError, TypeError):
            rows = 0
        responder = self.script.popleft() if self.script else _valid
        return responder(rows)


@dataclass
class Fuzzing:
    client: httpx.AsyncClient
    model: ScriptedModel
    engine: AsyncEngine

    async def post(self, query: str, variables: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        # Encoded by hand: httpx refuses NaN and Infinity, which clients can still send.
        content = json.dumps({"query": query, "variables": variables}, allow_nan=True)
        response = await self.client.post(
            "/graphql", content=content, headers={"content-type": "application/json"}
        )
        body: dict[str, Any] = response.json()
        return response.status_code, body

    async def clear(self) -> None:
        async with db.make_sessionmaker(self.engine).begin() as session:
            await session.execute(delete(db.Prediction))

    async def stored_ids(self) -> set[str]:
        async with db.make_sessionmaker(self.engine)() as session:
            return {str(i) for i in await session.scalars(select(col(db.Prediction.id)))}

    async def count(self) -> int:
        async with db.make_sessionmaker(self.engine)() as session:
            return await session.scalar(select(func.count()).select_from(db.Prediction)) or 0


@pytest.fixture
async def fuzzing(app_client: AppClient, engine: AsyncEngine) -> AsyncIterator[Fuzzing]:
    model = ScriptedModel()
    async with app_client(
        transport=httpx.MockTransport(model.handle),
        model_version="v1",
        # One attempt per call and a circuit that never opens: each example sees its own answer.
        model_retries=0,
        breaker_failures=1_000_000,
        max_body_bytes=MAX_BODY_BYTES,
    ) as client:
        yield Fuzzing(client, model, engine)


def assert_coded(status: int, body: dict[str, Any]) -> list[str]:
    """The property every answer has; returns its codes."""
    assert status in (200, 413), (status, body)
    codes = [(error.get("extensions") or {}).get("code") for error in body.get("errors") or []]
    assert all(code in KNOWN_CODES for code in codes), body["errors"]
    if status == 413:
        assert codes == ["PAYLOAD_TOO_LARGE"]
    return [str(code) for code in codes]


# --- classify ----------------------------------------------------------------------------------


async def _classify_calls(
    fuzzing: Fuzzing, calls: list[tuple[list[list[Any]], str | None]]
) -> None:
    await fuzzing.clear()
    acknowledged: set[str] = set()
    for rows, request_id in calls:
        status, body = await fuzzing.post(CLASSIFY, {"rows": rows, "requestId": request_id})
        codes = assert_coded(status, body)
        result = (body.get("data") or {}).get("classify")
        assert (result is None) == bool(codes), body
        if result is None:
            continue
        ids = [p["id"] for p in result["predictions"]]
        assert len(ids) == len(rows)
        assert [p["features"] for p in result["predictions"]] == [
            [float(x) for x in row] for row in rows
        ]
        if result["replayed"]:
            assert set(ids) <= acknowledged, "a replay returned rows no call acknowledged"
        acknowledged.update(ids)
    # Only acknowledged rows are stored, each once: failed calls left nothing behind.
    assert await fuzzing.count() == len(acknowledged)
    assert await fuzzing.stored_ids() == acknowledged


@FUZZ
@given(calls=st.lists(st.tuples(rows_strategy, request_ids), min_size=1, max_size=3))
async def test_any_classify_input_gets_a_coded_answer(
    fuzzing: Fuzzing, calls: list[tuple[list[list[Any]], str | None]]
) -> None:
    await _classify_calls(fuzzing, calls)


@FUZZ
@given(
    calls=st.lists(st.tuples(rows_strategy, request_ids), min_size=1, max_size=3),
    answers=st.lists(responders(), max_size=3),
)
async def test_any_model_answer_gets_a_coded_answer(
    fuzzing: Fuzzing,
    calls: list[tuple[list[list[Any]], str | None]],
    answers: list[Responder],
) -> None:
    fuzzing.model.script = deque(answers)
    await _classify_calls(fuzzing, calls)


# --- queries -----------------------------------------------------------------------------------


@pytest.fixture
async def history(fuzzing: Fuzzing) -> Fuzzing:
    """A few stored rows for the filters to run over."""
    now = datetime.now(UTC)
    async with db.make_sessionmaker(fuzzing.engine).begin() as session:
        for hours in range(3):
            await create_random_prediction(session, created_at=now - timedelta(hours=hours))
    return fuzzing


@FUZZ
@given(
    since=st.none() | _timestamps(),
    until=st.none() | _timestamps(),
    first=st.none() | st.integers() | st.integers(-5, 600) | texts(5),
    after=st.none() | _cursors(),
    model_name=st.none() | st.sampled_from(["iris"]) | texts(250),
    label=st.none() | st.sampled_from(CLASSES) | texts(250),
)
async def test_any_history_filter_gets_a_coded_answer(
    history: Fuzzing,
    since: str | None,
    until: str | None,
    first: int | str | None,
    after: str | None,
    model_name: str | None,
    label: str | None,
) -> None:
    variables = {
        "since": since,
        "until": until,
        "first": first,
        "after": after,
        "modelName": model_name,
        "label": label,
    }
    status, body = await history.post(PREDICTIONS, variables)
    codes = assert_coded(status, body)
    page = (body.get("data") or {}).get("predictions")
    assert (page is None) == bool(codes), body
    if page is not None:
        nodes = [edge["node"] for edge in page["edges"]]
        assert all(model_name in (None, n["modelName"]) for n in nodes)
        assert all(label in (None, n["label"]) for n in nodes)


@FUZZ
@given(id_=st.text(max_size=60) | st.uuids().map(str))
async def test_any_prediction_id_gets_a_coded_answer(history: Fuzzing, id_: str) -> None:
    stored = await history.stored_ids()
    status, body = await history.post(PREDICTION, {"id": id_})
    codes = assert_coded(status, body)
    if not codes:
        found = body["data"]["prediction"]
        assert (found is not None) == (id_ in stored or _canonical(id_) in stored)


def _canonical(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


# --- known bugs --------------------------------------------------------------------------------


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


ZERO = "00000000-0000-0000-0000-000000000000"
KNOWN_BUGS = [
    # (id, dialects where it was INTERNAL, operation, variables, model label)
    ("request-id-nul", {"postgresql"}, CLASSIFY, {"rows": [[1.0]], "requestId": "a\x00b"}, None),
    ("model-label-nul", {"postgresql"}, CLASSIFY, {"rows": [[1.0]]}, "x\x00y"),
    ("model-label-201-chars", {"postgresql"}, CLASSIFY, {"rows": [[1.0]]}, "L" * 201),
    ("model-name-filter-nul", {"postgresql"}, PREDICTIONS, {"modelName": "\x00"}, None),
    ("label-filter-nul", {"postgresql"}, PREDICTIONS, {"label": "a\x00"}, None),
    ("since-year-1-east", {"sqlite", "postgresql"}, PREDICTIONS,
     {"since": "0001-01-01T00:00:00+05:00"}, None),
    ("until-year-9999-west", {"sqlite", "postgresql"}, PREDICTIONS,
     {"until": "9999-12-31T23:59:59-05:00"}, None),
    ("cursor-year-1-east", {"postgresql"}, PREDICTIONS,
     {"after": _cursor(f"0001-01-01T00:00:00+05:00|{ZERO}")}, None),
    ("cursor-year-9999-west", {"postgresql"}, PREDICTIONS,
     {"after": _cursor(f"9999-12-31T23:59:59-05:00|{ZERO}")}, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dialects", "query", "variables", "label"),
    [pytest.param(*case[1:], id=case[0]) for case in KNOWN_BUGS],
)
async def test_inputs_that_once_crashed_are_coded(
    fuzzing: Fuzzing,
    dialects: set[str],
    query: str,
    variables: dict[str, Any],
    label: str | None,
) -> None:
    """Inputs the properties found answered INTERNAL (on ``dialects``) before they were fixed."""
    if label is not None:
        fuzzing.model.script.append(
            lambda rows: httpx.Response(200, json={"data": {"ndarray": [label] * rows}})
        )
    status, body = await fuzzing.post(query, variables)
    assert_coded(status, body)
    assert await fuzzing.count() == len(
        ((body.get("data") or {}).get("classify") or {}).get("predictions") or []
    )
