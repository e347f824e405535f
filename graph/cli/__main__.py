"""``python -m graph.cli``: the same as the ``mlgraph`` command."""

from graph.cli.main import main

raise SystemExit(main())
