"""``mlgraph serve``: the GraphQL API under uvicorn."""

from __future__ import annotations

import math

from graph.middleware.request_log import logging_config
from graph.settings import Settings

__all__ = ["serve"]


def serve(settings: Settings, host: str | None, port: int | None, workers: int | None) -> int:
    import uvicorn

    uvicorn.run(
        "graph.app:serve_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level),
        # In-flight requests (their commits included) get this long after SIGTERM; keep it
        # under the pod's terminationGracePeriodSeconds.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
        # The process runs behind a Kubernetes Service or a proxy that sets these headers.
        proxy_headers=True,
    )
    return 0
