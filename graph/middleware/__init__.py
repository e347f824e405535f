"""What wraps every request: request logs, tracing, and the limits on bodies and documents.

``request_log`` and ``tracing`` are ASGI middleware (graph/app.py), ``limits`` both an ASGI
middleware (the body size) and Strawberry extensions (depth, aliases, tokens; graph/schema.py).
"""
