"""The ``mlgraph`` command: ``main`` builds the parser; each sub-command has its own module.

::

    main.py          the parser and the dispatch to sub-commands
    serve.py         serve: uvicorn running graph.app
    migrate.py       migrate: Alembic upgrade/downgrade (and the Config other tools reuse)
    maintain.py      maintain: retention and monthly partitions
    apikey.py        apikey create|list|revoke
    export.py        export: a Parquet or CSV file
    check_drift.py   check-drift: the retraining signal for a CronJob
    demo_traffic.py  demo-traffic: a client of a running mlgraph
"""

from graph.cli.main import main

__all__ = ["main"]
