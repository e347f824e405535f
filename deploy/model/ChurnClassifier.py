"""The example model with named features of mixed types: will a customer churn?

A scikit-learn Pipeline: a ColumnTransformer one-hot encodes the two categorical columns
(``contract``, ``region``) and scales the two numerical ones (``tenure`` in months,
``monthly_charges``), then a logistic regression. It is trained on data made here with a fixed
seed (``sample``), so every environment that trains it gets the same kind of model.

As a Seldon Core v1 model (``seldon-core-microservice ChurnClassifier``), ``predict`` gets the
rows as Seldon decodes them, ``np.array(ndarray)`` (a row that mixes numbers and strings arrives
as strings), and the column names as ``features_names``; it builds the DataFrame the pipeline
was fitted on. Its metadata declares one input per column in the V2 form, BYTES for the
categorical ones, which is what mlgraph reads as the feature schema. The same pipeline, dumped
with joblib, is served by MLServer's scikit-learn runtime with the pandas content type
(``mlserver/churn/model-settings.json``).
"""

from __future__ import annotations

import os
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERICAL = ["tenure", "monthly_charges"]
CATEGORICAL = ["contract", "region"]
FEATURES = ["tenure", "monthly_charges", "contract", "region"]
CONTRACTS = ["monthly", "yearly", "two-year"]
REGIONS = ["north", "south", "east", "west"]
SEED = 13


def sample(rows: int, seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers and whether each churned: short tenure, high charges and a monthly contract
    make churn likely; the region matters a little."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, rows).astype(float),
            "monthly_charges": rng.normal(70, 20, rows).round(2).clip(15, 150),
            "contract": rng.choice(CONTRACTS, rows, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(REGIONS, rows),
        }
    )
    contract = frame["contract"].map({"monthly": 1.5, "yearly": -0.5, "two-year": -2.0})
    region = frame["region"].map({"north": 0.3, "south": -0.2, "east": 0.0, "west": 0.1})
    score = (
        -0.05 * frame["tenure"] + 0.03 * (frame["monthly_charges"] - 70) + contract + region
    )
    churned = rng.random(rows) < 1 / (1 + np.exp(-score))
    return frame, np.where(churned, "churn", "stay")


def train(seed: int = SEED) -> Pipeline:
    """Fit the pipeline on 2,000 generated customers."""
    frame, labels = sample(2000, seed)
    pipeline = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("numbers", StandardScaler(), NUMERICAL),
                        ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                    ]
                ),
            ),
            ("classifier", LogisticRegression(max_iter=1000)),
        ]
    )
    pipeline.fit(frame, labels)
    return pipeline


def frame_of(rows: Any, names: Any) -> pd.DataFrame:
    """The DataFrame the pipeline takes, from rows in ``names``' order (strings or not)."""
    frame = pd.DataFrame(np.asarray(rows, dtype=object), columns=list(names or FEATURES))
    for column in NUMERICAL:
        frame[column] = frame[column].astype(float)
    for column in CATEGORICAL:
        frame[column] = frame[column].astype(str)
    return frame[FEATURES]


class ChurnClassifier:
    """Loads ``MODEL_FILE`` (a joblib dump) when it is set, otherwise trains at start."""

    def __init__(self) -> None:
        path = os.environ.get("MODEL_FILE")
        self.model = joblib.load(path) if path else train()

    def class_names(self) -> list[str]:
        return [str(name) for name in self.model.classes_]

    def predict(self, X: np.ndarray, features_names: Any = None) -> np.ndarray:
        return self.model.predict_proba(frame_of(X, features_names))

    def init_metadata(self) -> dict[str, Any]:
        kinds = {name: "FP64" for name in NUMERICAL} | {name: "BYTES" for name in CATEGORICAL}
        return {
            "name": "churn",
            "versions": [os.environ.get("MODEL_VERSION", "v1")],
            "platform": "seldon",
            "inputs": [
                {"name": name, "datatype": kinds[name], "shape": [-1, 1]} for name in FEATURES
            ],
            "outputs": [{"name": "proba", "datatype": "FP64", "shape": [-1, 2]}],
        }
