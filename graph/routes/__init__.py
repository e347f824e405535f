"""The HTTP routes that are not GraphQL: probes, the model protocols' own routes (Seldon v1's
predictions and feedback, the Open Inference Protocol's ``/v2/...``), ``/export.csv``,
``/metrics``.

Each module is one route or one protocol's routes; graph/app.py mounts them beside ``/graphql``.
"""
