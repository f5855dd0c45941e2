"""Collections and the cache kept in step: create, list, select, delete, clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest_gui.core.errors import CollectionError
from ingest_gui.core.jobs import Job
from ingest_gui.core.manager import CollectionManager
from ingest_gui.core.pipeline import run_job
from ingest_gui.core.services import Services
from ingest_gui.core.settings import load_settings


def test_create_list_info_select_delete(services: Services) -> None:
    m = CollectionManager(services)
    info = m.create("holidays", vector_size=256, distance="euclid", backend="builtin")
    assert (info.vector_size, info.distance, info.points) == (256, "Euclid", 0)
    assert info.model == "builtin-pixels-v1-256"
    m.create("work")
    assert [c.name for c in m.list()] == ["holidays", "work"]
    m.select("work")
    assert m.active() == "work"
    m.delete("work")
    assert m.active() is None
    assert [c.name for c in m.list()] == ["holidays"]


def test_collection_errors_are_clear(services: Services) -> None:
    m = CollectionManager(services)
    m.create("a")
    with pytest.raises(CollectionError, match="'a' already exists"):
        m.create("a")
    with pytest.raises(CollectionError, match="'b' does not exist"):
        m.delete("b")
    with pytest.raises(CollectionError, match="'b' does not exist"):
        m.select("b")
    with pytest.raises(CollectionError, match="invalid collection name"):
        m.create("bad/name")
    with pytest.raises(CollectionError, match="unknown distance"):
        m.create("c", distance="manhattan")


def test_active_collection_survives_a_restart(data_dir: Path) -> None:
    svc = Services(load_settings())
    CollectionManager(svc).create("keep")
    CollectionManager(svc).select("keep")
    svc.close()
    svc = Services(load_settings())
    try:
        assert CollectionManager(svc).active() == "keep"
    finally:
        svc.close()


def test_delete_drops_only_entries_no_other_collection_uses(
    services: Services, photos: Path
) -> None:
    m = CollectionManager(services)
    m.create("a")
    m.create("b")
    run_job(services, Job([photos / "jpg" / "gps"], "a"))
    run_job(services, Job([photos / "tiff"], "a"))
    job_b = run_job(services, Job([photos / "tiff"], "b"))
    assert job_b.counters.cached == job_b.counters.total  # b reused a's results
    before = services.cache.count_results()
    m.delete("a")
    # gps results were only a's: gone; tiff results are b's too: kept
    assert services.cache.count_results() == before - 9
    again = run_job(services, Job([photos / "tiff"], "b"))
    assert again.counters.unchanged == again.counters.total
    m.create("a")  # recreating the name does not resurrect old vectors or skips
    fresh = run_job(services, Job([photos / "jpg" / "gps"], "a"))
    assert fresh.counters.ingested == 9 and fresh.counters.unchanged == 0


def test_clear_cache_forces_inference_again(services: Services, photos: Path) -> None:
    m = CollectionManager(services)
    m.create("a")
    run_job(services, Job([photos / "tiff"], "a"))
    assert m.clear_cache("a") == 8
    job = run_job(services, Job([photos / "tiff"], "a"))
    assert job.counters.ingested == 8 and job.counters.cached == 0
    assert services.store.info("a").points == 8
