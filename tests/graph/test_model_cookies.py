"""The model client is shared by every caller of a process, so it keeps no cookies.

A model server (or a proxy before it) that sets a cookie must not have it sent back with the
next call, which may be another caller's.
"""

from __future__ import annotations

import json

import httpx

from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, graphql


async def test_a_cookie_the_model_sets_is_never_sent_back(app_client: AppClient) -> None:
    cookies_sent: list[str | None] = []

    def model(request: httpx.Request) -> httpx.Response:
        cookies_sent.append(request.headers.get("cookie"))
        if request.method != "POST":  # the metadata it reads at start: none here
            return httpx.Response(404, headers={"set-cookie": "session=start; Path=/"})
        rows = len(json.loads(request.content)["data"]["ndarray"])
        return httpx.Response(
            200,
            json={"data": {"ndarray": ["setosa"] * rows}},
            headers={"set-cookie": "session=caller-one; Path=/"},
        )

    async with app_client(transport=httpx.MockTransport(model)) as client:
        for _ in range(3):
            body = await graphql(client, CLASSIFY, rows=[[5.1, 3.5, 1.4, 0.2]])
            assert body["data"]["classify"]["predictions"][0]["label"] == "setosa"
    assert len(cookies_sent) >= 3
    assert set(cookies_sent) == {None}
