"""The HTTP routes that are not GraphQL: probes, Seldon's feedback, ``/export.csv``, ``/metrics``.

Each module is one route (or one pair of probes); graph/app.py mounts them beside ``/graphql``.
"""
