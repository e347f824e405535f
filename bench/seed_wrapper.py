"""The seed-style wrapper that bench/classify.py compares mlgraph with.

What a user would otherwise build, following the seed article and FastAPI's own SQL tutorial: a
REST endpoint that calls the model with ``requests`` and stores each row with a synchronous
SQLAlchemy ORM session (``add``, ``commit``, ``refresh``). The endpoint is a plain ``def``, so
FastAPI runs it in its thread pool. Deliberately not optimised: it is the baseline.

Run with the bench venv (see bench/README.md)::

    SEED_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/db \\
    SEED_MODEL_URL=http://127.0.0.1:9000 \\
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
    response = requests.post(
        f"{MODEL_URL}/api/v1.0/predictions", json={"data": {"ndarray": body.rows}}, timeout=10
    )
    response.raise_for_status()
    latency_ms = (time.perf_counter() - started) * 1000
    data = response.json()["data"]
    names = data.get("names") or [str(i) for i in range(len(data["ndarray"][0]))]
    stored = []
    for features, probs in zip(body.rows, data["ndarray"], strict=True):
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
