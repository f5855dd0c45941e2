"""ingest_gui: turn folders of photos into a searchable Qdrant vector collection."""

__version__ = "0.1.0"
