"""Both stores behind one interface: the embedded engine (default) and qdrant-client.

qdrant-client's local mode speaks the same client API as a Qdrant server or cluster, so this
is the code path QDRANT_URL uses, run here without a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest_gui.core.errors import CollectionError
from ingest_gui.core.jobs import Job, JobState
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.pipeline import run_job
from ingest_gui.core.services import Services
from ingest_gui.core.settings import load_settings
from ingest_gui.core.store import VectorStore
from tests.conftest import photo_files


@pytest.fixture(params=["edge", "qdrant-client"])
def svc(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Services]:
    settings = load_settings()
    store = None
    if request.param == "qdrant-client":
        from qdrant_client import QdrantClient

        client = QdrantClient(path=str(data_dir / "qdrant-client"))
        store = VectorStore(client, "qdrant-client local")
    services = Services(settings, store=store)
    yield services
    services.close()


def test_ingest_rescan_prune_and_delete(svc: Services, photos: Path) -> None:
    m = CollectionManager(svc)
    m.create("c")
    folder = photos / "jpg" / "gps"
    first = run_job(svc, Job([folder], "c"))
    assert first.state is JobState.COMPLETED and first.counters.ingested == 9
    (folder / "DSCN0010.jpg").rename(photos / "moved.jpg")
    again = run_job(svc, Job([folder, photos / "moved.jpg"], "c"))
    assert again.counters.unchanged == 8 and again.counters.cached == 1
    assert again.removed == 1
    [hit] = [h for h in svc.store.scroll("c") if h.payload["filename"] == "moved.jpg"]
    assert hit.payload["paths"] == [str(photos / "moved.jpg")]
    assert svc.store.info("c").points == 9
    hits = svc.store.search("c", svc.cache.get(hit.payload["model"], hit.payload["sha256"]).embedding)  # type: ignore[union-attr]
    assert hits[0].id == hit.id
    m.delete("c")
    with pytest.raises(CollectionError):
        svc.store.info("c")


def test_whole_sample_set(svc: Services, photos: Path) -> None:
    CollectionManager(svc).create("all", vector_size=256, distance="Dot")
    job = run_job(svc, Job([photos], "all"))
    assert job.counters.ingested == len(photo_files(photos)) == svc.store.info("all").points
