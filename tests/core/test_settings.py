"""Settings: the seed's environment variables, clear errors, persisted values."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest_gui.core.errors import ConfigError
from ingest_gui.core.settings import load_settings, save_settings


def test_defaults_are_the_seeds(tmp_path: Path) -> None:
    s = load_settings(env={"INGEST_GUI_DATA_DIR": str(tmp_path)})
    assert (s.ml_url, s.qdrant_port, s.vector_size, s.distance) == (
        "http://localhost:8001", 6333, 512, "Cosine",
    )
    assert (s.ml_batch_size, s.upsert_batch_size, s.backend) == (8, 32, "builtin")
    assert s.qdrant_embedded and s.qdrant_path == tmp_path / "qdrant"


def test_every_seed_variable_is_honoured(tmp_path: Path) -> None:
    env = {
        "INGEST_GUI_DATA_DIR": str(tmp_path),
        "ML_INFERENCE_SERVICE_URL": "http://127.0.0.1:9999",
        "QDRANT_HOST": "qdrant.local",
        "QDRANT_PORT": "7000",
        "QDRANT_VECTOR_SIZE": "768",
        "QDRANT_DISTANCE_METRIC": "dot",
        "ML_INFERENCE_BATCH_SIZE": "16",
        "QDRANT_UPSERT_BATCH_SIZE": "64",
        "QDRANT_API_KEY": "secret",
    }
    s = load_settings(env=env)
    assert s.ml_url == "http://127.0.0.1:9999"
    assert (s.qdrant_host, s.qdrant_port, s.vector_size) == ("qdrant.local", 7000, 768)
    assert (s.distance, s.ml_batch_size, s.upsert_batch_size) == ("Dot", 16, 64)
    assert not s.qdrant_embedded and s.describe_qdrant() == "qdrant.local:7000"
    assert "secret" not in s.describe_qdrant()
    assert "vector_size" in s.from_env


@pytest.mark.parametrize(
    ("var", "value", "words"),
    [
        ("ML_INFERENCE_BATCH_SIZE", "eight", "ML_INFERENCE_BATCH_SIZE must be a whole number"),
        ("QDRANT_UPSERT_BATCH_SIZE", "0", "QDRANT_UPSERT_BATCH_SIZE must be a whole number from 1"),
        ("QDRANT_DISTANCE_METRIC", "Manhattan", "QDRANT_DISTANCE_METRIC must be one of Cosine"),
        ("QDRANT_PORT", "70000", "QDRANT_PORT"),
        ("ML_INFERENCE_SERVICE_URL", "localhost:8001", "ML_INFERENCE_SERVICE_URL must start"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, var: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(env={"INGEST_GUI_DATA_DIR": str(tmp_path), var: value})


def test_saved_values_load_back_and_env_wins(tmp_path: Path) -> None:
    env = {"INGEST_GUI_DATA_DIR": str(tmp_path)}
    s = load_settings(env=env).with_values(ml_batch_size=4, qdrant_api_key="k3y", backend="http")
    path = save_settings(s)
    assert "k3y" not in path.read_text()  # secrets never go to a plain-text file
    again = load_settings(env=env)
    assert (again.ml_batch_size, again.backend, again.qdrant_api_key) == (4, "http", None)
    env["ML_INFERENCE_BATCH_SIZE"] = "12"
    assert load_settings(env=env).ml_batch_size == 12
