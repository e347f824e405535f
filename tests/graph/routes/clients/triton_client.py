"""Run in the tritonclient environment: tritonclient.http does V2 inference against ``argv[1]``
(host:port) as an existing client would; prints what it got as JSON."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

client = httpclient.InferenceServerClient(url=sys.argv[1])
out: dict[str, Any] = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "model_ready": client.is_model_ready("iris"),
    "metadata": client.get_model_metadata("iris"),
}
rows = np.array(
    [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], dtype=np.float32
)
tensor = httpclient.InferInput("input-0", list(rows.shape), "FP32")
tensor.set_data_from_numpy(rows, binary_data=False)

labels = client.infer("iris", [tensor], request_id="triton-labels")
out["labels"] = {"id": labels.get_response()["id"], "predict": labels.as_numpy("predict").tolist()}
proba = client.infer(
    "iris",
    [tensor],
    outputs=[httpclient.InferRequestedOutput("predict_proba")],
    request_id="triton-proba",
)
out["proba"] = {
    "outputs": [o["name"] for o in proba.get_response()["outputs"]],
    "predict_proba": proba.as_numpy("predict_proba").tolist(),
}

# The churn pipeline: one input per column, strings as BYTES, named by feature.
columns = [
    ("tenure", "INT64", np.array([[3], [60]], dtype=np.int64)),
    ("monthly_charges", "FP64", np.array([[95.5], [40.0]])),
    ("contract", "BYTES", np.array([["monthly"], ["two-year"]], dtype=object)),
    ("region", "BYTES", np.array([["north"], ["south"]], dtype=object)),
]
inputs = []
for name, datatype, values in columns:
    column = httpclient.InferInput(name, list(values.shape), datatype)
    column.set_data_from_numpy(values, binary_data=False)
    inputs.append(column)
churn = client.infer("churn", inputs, request_id="triton-churn")
out["churn"] = [
    v.decode() if isinstance(v, bytes) else v for v in churn.as_numpy("predict").ravel().tolist()
]

# tritonclient's default, binary tensors: refused by MLServer and by mlgraph alike.
binary = httpclient.InferInput("input-0", list(rows.shape), "FP32")
binary.set_data_from_numpy(rows)
try:
    client.infer("iris", [binary])
    out["binary"] = "accepted"
except InferenceServerException as exc:
    out["binary"] = f"refused: {exc.status()}"
print(json.dumps(out))
