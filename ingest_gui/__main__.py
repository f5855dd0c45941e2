"""`python -m ingest_gui`: the same front door as the `ingest-gui` script."""

from ingest_gui.cli import main

raise SystemExit(main())
