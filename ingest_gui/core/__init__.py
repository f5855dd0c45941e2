"""Qt-free core of ingest_gui: settings, scanning, hashing, metadata, cache, inference, store, pipeline."""
