"""Run in the seldon-core environment: seldon-core's own SeldonClient predicts and sends feedback
to ``argv[1]`` (host:port), as an existing client would; prints what it got as JSON.

``argv[2]`` is ``mlgraph`` (the ingress paths and feedback too) or ``direct`` (the microservice
itself, which has only ``/api/v1.0/predictions``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from seldon_core.seldon_client import SeldonClient
from seldon_core.utils import json_to_seldon_message

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
endpoint, target = sys.argv[1], sys.argv[2]
out: dict[str, Any] = {}

# gateway="seldon": POST /api/v1.0/predictions, a tensor by default, no headers.
seldon = SeldonClient(gateway="seldon", gateway_endpoint=endpoint)
tensor = seldon.predict(data=ROWS)
ndarray = seldon.predict(
    data=ROWS,
    payload_type="ndarray",
    names=["sepal_length", "sepal_width", "petal_length", "petal_width"],
)
out["tensor"] = {"success": tensor.success, "msg": tensor.msg, "response": tensor.response}
out["ndarray"] = {"success": ndarray.success, "msg": ndarray.msg, "response": ndarray.response}
wrong = seldon.predict(data=np.array([[1, 3, 3]]), payload_type="ndarray")
out["wrong_width"] = {"success": wrong.success, "msg": wrong.msg, "response": wrong.response}

if target == "mlgraph":
    # The ingress forms: with a namespace (istio) and without (ambassador).
    istio = SeldonClient(
        gateway="istio", namespace="models", deployment_name="iris", gateway_endpoint=endpoint
    )
    ambassador = SeldonClient(
        gateway="ambassador", deployment_name="iris", gateway_endpoint=endpoint
    )
    by_istio = istio.predict(data=ROWS[:1])
    by_ambassador = ambassador.predict(data=ROWS[1:], client_return_type="proto")
    out["istio"] = {"success": by_istio.success, "response": by_istio.response}
    out["ambassador"] = {"success": by_ambassador.success, "puid": by_ambassador.response.meta.puid}
    # Feedback as a Seldon client sends it: the request and response it got, a reward, and
    # truth (one-hot rows) for one of them; reward only for the others.
    # Responses returned as dicts go back as the SeldonMessage protos feedback takes.
    truth = json_to_seldon_message({"data": {"ndarray": [[1, 0, 0], [0, 0, 1]]}})
    fed = [
        seldon.feedback(
            prediction_request=tensor.request,
            prediction_response=json_to_seldon_message(tensor.response),
            prediction_truth=truth,
            reward=1.0,
        ),
        istio.feedback(
            prediction_request=by_istio.request,
            prediction_response=json_to_seldon_message(by_istio.response),
            reward=1.0,
        ),
        ambassador.feedback(
            prediction_request=by_ambassador.request,
            prediction_response=by_ambassador.response,
            reward=0.0,
        ),
    ]
    out["feedback"] = [{"success": f.success, "msg": f.msg, "response": f.response} for f in fed]

print(json.dumps(out))
