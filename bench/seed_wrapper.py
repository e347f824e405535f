"""The seed-style wrapper that bench/classify.py compares mlgraph with.

What a user would otherwise build, following the seed article and FastAPI's own SQL tutorial: a
REST endpoint that calls the model with ``requests`` and stores each row with a synchronous
SQLAlchemy ORM session (``add``, ``commit``, ``refresh``). The endpoint is a plain ``def``, so
FastAPI runs it in its thread pool. Deliberately not optimised: it is the baseline.

Run with the bench venv (see bench/README.md)::

    SEED_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/db \\
    SEED_MODEL_URL=http://127.0.0.1:9000 SEED_PROTOCOL=seldon \\
    bench/.venv/bin/uvicorn seed_wrapper:app --app-dir bench --port 8100
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import requests
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy import JSON, DateTime, String, create_engine, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

DATABASE_URL = os.environ["SEED_DATABASE_URL"]
MODEL_URL = os.environ["SEED_MODEL_URL"].rstrip("/")
MODEL_NAME = "iris"
# "seldon" (v1, /api/v1.0/predictions) or "v2" (Open Inference Protocol, e.g. MLServer).
PROTOCOL = os.environ.get("SEED_PROTOCOL", "seldon")
CLASS_NAMES = ["setosa", "versicolor", "virginica"]

engine = create_engine(DATABASE_URL)
SessionLocal = sessionmaker(bind=engine, autoflush=False)


class Base(DeclarativeBase):
    pass


class SeedPrediction(Base):
    __tablename__ = "seed_predictions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    model_name: Mapped[str] = mapped_column(String(200))
    features: Mapped[list[float]] = mapped_column(JSON)
    label: Mapped[str] = mapped_column(String(200))
    probabilities: Mapped[dict[str, float] | None] = mapped_column(JSON)
    latency_ms: Mapped[float]


Base.metadata.create_all(engine)

app = FastAPI(title="seed-style wrapper")


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


class ClassifyRequest(BaseModel):
    rows: list[list[float]]


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/classify")
def classify(body: ClassifyRequest, db: Annotated[Session, Depends(get_db)]) -> dict[str, Any]:
    started = time.perf_counter()
    names, rows_of_probs = _call_model(body.rows)
    latency_ms = (time.perf_counter() - started) * 1000
    stored = []
    for features, probs in zip(body.rows, rows_of_probs, strict=True):
        probabilities = dict(zip(names, probs, strict=True))
        prediction = SeedPrediction(
            model_name=MODEL_NAME,
            features=features,
            label=max(probabilities, key=probabilities.__getitem__),
            probabilities=probabilities,
            latency_ms=latency_ms,
        )
        db.add(prediction)
        stored.append(prediction)
    db.commit()
    for prediction in stored:
        db.refresh(prediction)
    return {
        "predictions": [
            {"id": str(p.id), "label": p.label, "probabilities": p.probabilities} for p in stored
        ]
    }


def _call_model(rows: list[list[float]]) -> tuple[list[str], list[list[float]]]:
    """Class names and one row of probabilities per input row, over either protocol."""
    if PROTOCOL == "v2":
        request = {
            "inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64",
                        "data": [x for row in rows for x in row]}],
            "outputs": [{"name": "predict_proba"}],
        }  # fmt: skip
        response = requests.post(f"{MODEL_URL}/v2/models/{MODEL_NAME}/infer", json=request,
                                 timeout=10)  # fmt: skip
        response.raise_for_status()
        (output,) = response.json()["outputs"]
        width = output["shape"][1]
        flat = output["data"]
        return CLASS_NAMES, [flat[i : i + width] for i in range(0, len(flat), width)]
    response = requests.post(
        f"{MODEL_URL}/api/v1.0/predictions", json={"data": {"ndarray": rows}}, timeout=10
    )
    response.raise_for_status()
    data = response.json()["data"]
    names = data.get("names") or [str(i) for i in range(len(data["ndarray"][0]))]
    return names, data["ndarray"]
