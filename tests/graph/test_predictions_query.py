"""History queries: date boundaries, filters, and keyset pagination that visits each row once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import AppClient
from tests.utils.api import PREDICTIONS, error_codes, graphql
from tests.utils.builders import create_random_prediction

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


async def test_since_is_inclusive_and_until_exclusive(
    app_client: AppClient, session: AsyncSession
) -> None:
    before = await create_random_prediction(session, created_at=T0 - timedelta(microseconds=1))
    at_since = await create_random_prediction(session, created_at=T0)
    inside = await create_random_prediction(session, created_at=T0 + timedelta(hours=1))
    at_until = await create_random_prediction(session, created_at=T0 + timedelta(days=1))
    await session.commit()

    async with app_client() as client:
        body = await graphql(
            client,
            PREDICTIONS,
            since=T0.isoformat(),
            until=(T0 + timedelta(days=1)).isoformat(),
        )
    ids = [edge["node"]["id"] for edge in body["data"]["predictions"]["edges"]]
    assert ids == [str(inside.id), str(at_since.id)]  # newest first
    assert str(before.id) not in ids
    assert str(at_until.id) not in ids


async def test_dates_without_timezone_are_utc_and_other_zones_are_converted(
    app_client: AppClient, session: AsyncSession
) -> None:
    row = await create_random_prediction(session, created_at=T0)
    await session.commit()
    async with app_client() as client:
        naive = await graphql(client, PREDICTIONS, since="2026-03-01T12:00:00")
        paris = await graphql(client, PREDICTIONS, since="2026-03-01T13:00:00+01:00")
        later = await graphql(client, PREDICTIONS, since="2026-03-01T13:00:01+01:00")
    for body in (naive, paris):
        assert [e["node"]["id"] for e in body["data"]["predictions"]["edges"]] == [str(row.id)]
    assert later["data"]["predictions"]["edges"] == []


async def test_filters_by_model_and_label(app_client: AppClient, session: AsyncSession) -> None:
    wanted = await create_random_prediction(session, created_at=T0, model_name="a", label="x")
    await create_random_prediction(session, created_at=T0, model_name="a", label="y")
    await create_random_prediction(session, created_at=T0, model_name="b", label="x")
    await session.commit()
    async with app_client() as client:
        body = await graphql(client, PREDICTIONS, modelName="a", label="x")
    assert [e["node"]["id"] for e in body["data"]["predictions"]["edges"]] == [str(wanted.id)]


async def test_pagination_visits_every_row_once_under_ties(
    app_client: AppClient, session: AsyncSession
) -> None:
    # 23 rows over 5 distinct timestamps: most pages cut through a group of equal created_at.
    rows = [
        await create_random_prediction(session, created_at=T0 + timedelta(seconds=i % 5))
        for i in range(23)
    ]
    await create_random_prediction(session, created_at=T0, model_name="other")
    await session.commit()

    seen: list[str] = []
    pages = 0
    after = None
    async with app_client() as client:
        while True:
            body = await graphql(client, PREDICTIONS, modelName="iris", first=4, after=after)
            connection = body["data"]["predictions"]
            seen += [edge["node"]["id"] for edge in connection["edges"]]
            pages += 1
            assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
            assert after == connection["edges"][-1]["cursor"]
    assert pages == 6
    assert sorted(seen) == sorted(str(row.id) for row in rows)
    assert len(seen) == len(set(seen))
    created = [row.created_at for row in sorted(rows, key=lambda r: str(r.id))]
    assert max(created) - min(created) == timedelta(seconds=4)


async def test_empty_result_has_no_cursors(app_client: AppClient) -> None:
    async with app_client() as client:
        body = await graphql(client, PREDICTIONS)
    assert body["data"]["predictions"] == {
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param({"first": 501}, id="first-over-max"),
        pytest.param({"first": 0}, id="first-zero"),
        pytest.param({"after": "bm90LWEtY3Vyc29y"}, id="foreign-cursor"),
        pytest.param({"after": "%%%"}, id="garbage-cursor"),
        pytest.param(
            {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, id="range"
        ),
        pytest.param({"modelName": "m" * 201}, id="long-model-name"),
    ],
)
async def test_bad_arguments_are_bad_user_input(
    app_client: AppClient, variables: dict[str, object]
) -> None:
    async with app_client() as client:
        body = await graphql(client, PREDICTIONS, **variables)
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_page_size_limit_is_a_setting(app_client: AppClient) -> None:
    async with app_client(max_page_size=10, default_page_size=5) as client:
        body = await graphql(client, PREDICTIONS, first=11)
    assert "between 1 and 10" in body["errors"][0]["message"]


async def test_prediction_by_id(app_client: AppClient, session: AsyncSession) -> None:
    row = await create_random_prediction(session, created_at=T0, label="setosa")
    await session.commit()
    query = "query($id: ID!) { prediction(id: $id) { id label createdAt } }"
    async with app_client() as client:
        found = await graphql(client, query, id=str(row.id))
        missing = await graphql(client, query, id="00000000-0000-0000-0000-000000000000")
        bad = await graphql(client, query, id="not-a-uuid")
    assert found["data"]["prediction"] == {
        "id": str(row.id),
        "label": "setosa",
        "createdAt": "2026-03-01T12:00:00+00:00",
    }
    assert missing["data"]["prediction"] is None
    assert error_codes(bad) == ["BAD_USER_INPUT"]
