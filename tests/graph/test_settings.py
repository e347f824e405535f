"""Settings from the environment: one model by MLGRAPH_MODEL_*, several by MLGRAPH_MODELS."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from graph.settings import Settings


def test_single_model_from_model_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGRAPH_MODEL_URL", "http://model:9000")
    monkeypatch.setenv("MLGRAPH_MODEL_NAME", "churn")
    monkeypatch.setenv("MLGRAPH_MODEL_FEATURES", "12")
    (model,) = Settings().model_list()
    assert (model.name, model.protocol, model.url, model.features) == (
        "churn",
        "seldon",
        "http://model:9000",
        12,
    )


def test_several_models_from_json_with_a_chosen_default(monkeypatch: pytest.MonkeyPatch) -> None:
    models = [
        {"name": "a", "url": "http://a"},
        {"name": "b", "protocol": "v2", "url": "http://b", "headers": {"Seldon-Model": "b"}},
    ]
    monkeypatch.setenv("MLGRAPH_MODELS", json.dumps(models))
    monkeypatch.setenv("MLGRAPH_DEFAULT_MODEL", "b")
    listed = Settings().model_list()
    assert [m.name for m in listed] == ["b", "a"]
    assert listed[0].headers == {"Seldon-Model": "b"}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"MLGRAPH_MODELS": '[{"name": "a", "url": "x"}, {"name": "a", "url": "y"}]'}, "unique"),
        (
            {"MLGRAPH_MODELS": '[{"name": "a", "url": "x"}]', "MLGRAPH_DEFAULT_MODEL": "z"},
            "not among",
        ),
        ({"MLGRAPH_MODELS": '[{"name": "a", "url": "x", "protocol": "grpc"}]'}, "seldon"),
        ({"MLGRAPH_DEFAULT_PAGE_SIZE": "600"}, "max_page_size"),
    ],
)
def test_bad_settings_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()
