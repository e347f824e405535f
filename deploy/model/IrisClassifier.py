"""The example model: a Seldon Core v1 Python model class for the iris data.

This is exactly what goes into a SeldonDeployment image: ``seldon-core-microservice
IrisClassifier`` imports this module, builds one ``IrisClassifier`` and calls ``predict``
for every request. Because the class defines ``class_names``, Seldon answers with
``{"data": {"names": [...], "ndarray": [[p0, p1, p2], ...]}}``: one probability row per input.
Its metadata names the four features, which mlgraph reads as the model's feature schema.
"""

from __future__ import annotations

import os
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def train() -> LogisticRegression:
    """Fit a small classifier on the iris data that scikit-learn ships (nothing is downloaded)."""
    iris = load_iris()
    model = LogisticRegression(max_iter=1000)
    model.fit(iris.data, iris.target)
    return model


class IrisClassifier:
    """Loads ``MODEL_FILE`` (a joblib dump) when it is set, otherwise trains at start."""

    def __init__(self) -> None:
        path = os.environ.get("MODEL_FILE")
        self.model = joblib.load(path) if path else train()
        self._class_names = [str(name) for name in load_iris().target_names]

    def class_names(self) -> list[str]:
        return self._class_names

    def predict(self, X: np.ndarray, features_names: Any = None) -> np.ndarray:
        return self.model.predict_proba(np.asarray(X, dtype=float))

    def init_metadata(self) -> dict[str, Any]:
        return {
            "name": "iris",
            "versions": [os.environ.get("MODEL_VERSION", "v1")],
            "platform": "seldon",
            "inputs": [{"messagetype": "ndarray", "schema": {"names": FEATURES, "shape": [4]}}],
            "outputs": [{"messagetype": "ndarray", "schema": {"shape": [3]}}],
        }
