"""Classification metrics from (predicted, actual) pair counts: pure arithmetic, no database.

The definitions are scikit-learn's (``accuracy_score``, ``precision_score``/``recall_score``
with ``average=None``, ``confusion_matrix``); where sklearn would divide by zero and warn, the
value here is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ClassMetrics", "Metrics", "compute_metrics"]


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    label: str
    precision: float | None  # of the rows predicted as label, the share that were label
    recall: float | None  # of the rows that were label, the share predicted as label
    support: int  # rows whose actual is label


@dataclass(frozen=True, slots=True)
class Metrics:
    count: int
    accuracy: float | None
    classes: list[ClassMetrics]
    labels: list[str]  # order of the confusion matrix's rows (actual) and columns (predicted)
    confusion: list[list[int]]


def compute_metrics(pairs: Mapping[tuple[str, str], int]) -> Metrics:
    """``pairs`` maps ``(predicted, actual)`` to a count."""
    labels = sorted({label for pair in pairs for label in pair})
    position = {label: i for i, label in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for (predicted, actual), count in pairs.items():
        confusion[position[actual]][position[predicted]] += count
    total = sum(pairs.values())
    correct = sum(confusion[i][i] for i in range(len(labels)))
    classes = []
    for i, label in enumerate(labels):
        predicted_as = sum(row[i] for row in confusion)
        actually = sum(confusion[i])
        classes.append(
            ClassMetrics(
                label=label,
                precision=confusion[i][i] / predicted_as if predicted_as else None,
                recall=confusion[i][i] / actually if actually else None,
                support=actually,
            )
        )
    return Metrics(
        count=total,
        accuracy=correct / total if total else None,
        classes=classes,
        labels=labels,
        confusion=confusion,
    )
