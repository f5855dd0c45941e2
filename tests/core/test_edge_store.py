"""The embedded store on Qdrant Edge: what the shared store tests do not cover."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest_gui.core.edge_store import EdgeStore
from ingest_gui.core.errors import CollectionError, StoreError
from ingest_gui.core.services import Services
from ingest_gui.core.settings import Settings, load_settings
from ingest_gui.core.store import PointData, VectorStore

DIM = 16


def pid(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"photo-{n}"))


def vec(n: int) -> list[float]:
    return [float(x) for x in np.random.default_rng(n).standard_normal(DIM)]


def point(n: int, *paths: str) -> PointData:
    return PointData(pid(n), vec(n), {"paths": list(paths or [f"/p/{n}.jpg"]), "n": n})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "data" / "qdrant-edge"


@pytest.fixture
def store(root: Path) -> Iterator[EdgeStore]:
    s = EdgeStore(root)
    yield s
    s.close()


def test_services_use_edge_embedded_and_qdrant_client_for_a_server(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = data_dir / "qdrant"  # qdrant-client's local data from before: left alone
    old.mkdir(parents=True)
    (old / "meta.json").write_text("{}")
    svc = Services(load_settings())
    try:
        assert isinstance(svc.store, EdgeStore)
        assert svc.store.root == data_dir / "qdrant-edge"
    finally:
        svc.close()
    assert (old / "meta.json").read_text() == "{}"

    opened: list[str] = []

    class FakeServer:
        def close(self) -> None:
            pass

    def from_settings(cls: type, settings: Settings) -> FakeServer:
        opened.append(settings.describe_qdrant())
        return FakeServer()

    monkeypatch.setattr(VectorStore, "from_settings", classmethod(from_settings))
    monkeypatch.setenv("QDRANT_URL", "http://qdrant.example:6333")
    Services(load_settings()).close()
    assert opened == ["http://qdrant.example:6333"]


def test_reopen_keeps_points_and_metadata(root: Path) -> None:
    s = EdgeStore(root)
    created = s.create("photos", DIM, "euclid", "builtin")
    s.set_model("photos", "builtin", "builtin-pixels-v1-16")
    s.merge_upsert("photos", [point(n) for n in range(50)])
    s.delete_points("photos", [pid(0)])
    s.close()
    s = EdgeStore(root)
    try:
        info = s.info("photos")
        assert (info.points, info.vector_size, info.distance) == (49, DIM, "Euclid")
        assert (info.backend, info.model) == ("builtin", "builtin-pixels-v1-16")
        assert info.created_at == created.created_at
        assert s.payloads("photos", [pid(7)])[pid(7)] == {"paths": ["/p/7.jpg"], "n": 7}
        assert s.search("photos", vec(7), limit=1)[0].id == pid(7)
        assert [c.name for c in s.list_collections()] == ["photos"]
    finally:
        s.close()


def test_a_second_store_on_the_same_folder_gets_a_clear_error(root: Path) -> None:
    first = EdgeStore(root)
    try:
        with pytest.raises(StoreError, match="in use by another ingest_gui instance") as err:
            EdgeStore(root)
        assert str(root) in str(err.value) and f"process {os.getpid()}" in str(err.value)
        code = textwrap.dedent(
            f"""
            from ingest_gui.core.edge_store import EdgeStore
            from ingest_gui.core.errors import StoreError
            try:
                EdgeStore({str(root)!r})
            except StoreError as exc:
                print(exc)
            """
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert "in use by another ingest_gui instance" in out.stdout, out.stderr
    finally:
        first.close()
    EdgeStore(root).close()  # free again once the first one closed


def test_merge_keeps_every_path_and_overwrites_the_rest(store: EdgeStore) -> None:
    store.create("c", DIM, "Cosine", "builtin")
    store.merge_upsert("c", [point(1, "/a/1.jpg")])
    store.merge_upsert("c", [PointData(pid(1), vec(1), {"paths": ["/b/1.jpg"], "n": 100})])
    store.merge_upsert("c", [point(1, "/a/1.jpg")])  # a known path is not repeated
    assert store.payloads("c", [pid(1)]) == {pid(1): {"paths": ["/a/1.jpg", "/b/1.jpg"], "n": 1}}
    assert store.payloads("c", [pid(1), pid(2)], fields=["paths"]) == {
        pid(1): {"paths": ["/a/1.jpg", "/b/1.jpg"]}
    }
    assert store.info("c").points == 1


@pytest.mark.parametrize("distance", ["Cosine", "Dot", "Euclid"])
def test_search_ranks_the_nearest_first(store: EdgeStore, distance: str) -> None:
    store.create("c", 3, distance, "builtin")
    pts = {"x": [1.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0], "xy": [0.7, 0.7, 0.0], "z": [0.0, 0.0, 1.0]}
    store.merge_upsert("c", [PointData(pid(i), v, {"k": k}) for i, (k, v) in enumerate(pts.items())])
    hits = store.search("c", [0.9, 0.1, 0.0], limit=3)
    assert [h.payload["k"] for h in hits] == ["x", "xy", "y"]
    assert hits[0].score != hits[1].score
    assert len(store.search("c", [0.9, 0.1, 0.0], limit=10)) == 4


def test_delete_removes_the_folder_and_a_new_collection_starts_empty(
    store: EdgeStore, root: Path
) -> None:
    store.create("c", DIM, "Cosine", "builtin")
    store.merge_upsert("c", [point(n) for n in range(10)])
    assert (root / "c" / "shard").is_dir()
    store.delete("c")
    assert not (root / "c").exists()
    assert not store.exists("c") and store.list_collections() == []
    with pytest.raises(CollectionError, match="'c' does not exist"):
        store.info("c")
    store.create("c", DIM, "Cosine", "builtin")
    assert store.info("c").points == 0


def test_names_with_dots_and_dashes(store: EdgeStore, root: Path) -> None:
    names = ["my.photos-2024_v1", "a-b", "x.y", "Z9"]
    for n in names:
        store.create(n, DIM, "Cosine", "builtin")
        store.merge_upsert(n, [point(1)])
    assert [c.name for c in store.list_collections()] == sorted(names)
    assert all((root / n / "collection.json").is_file() for n in names)
    store.delete("x.y")
    assert [c.name for c in store.list_collections()] == sorted(set(names) - {"x.y"})


def test_errors_match_the_qdrant_client_store(store: EdgeStore) -> None:
    store.create("c", DIM, "Cosine", "builtin")
    with pytest.raises(CollectionError, match="'c' already exists"):
        store.create("c", DIM, "Cosine", "builtin")
    with pytest.raises(CollectionError, match="invalid collection name"):
        store.create("../escape", DIM, "Cosine", "builtin")
    with pytest.raises(CollectionError, match="unknown distance"):
        store.create("d", DIM, "manhattan", "builtin")
    for call in (
        lambda: store.info("nope"),
        lambda: store.delete("nope"),
        lambda: store.set_model("nope", "builtin", "m"),
        lambda: store.search("nope", vec(1)),
        lambda: store.merge_upsert("nope", [point(1)]),
        lambda: store.payloads("nope", [pid(1)]),
        lambda: store.delete_points("nope", [pid(1)]),
        lambda: list(store.scroll("nope")),
        lambda: store.info(".."),
    ):
        with pytest.raises(CollectionError, match="does not exist"):
            call()
    assert not store.exists("..") and not store.exists("../c")
    with pytest.raises(StoreError, match="dimension"):
        store.search("c", [1.0, 2.0])
    with pytest.raises(StoreError, match="dimension"):
        store.merge_upsert("c", [PointData(pid(1), [1.0], {})])
    with pytest.raises(StoreError):
        store.merge_upsert("c", [PointData("not-a-uuid", vec(1), {})])
    assert store.info("c").points == 0


def test_scroll_pages_through_every_point(store: EdgeStore) -> None:
    store.create("c", DIM, "Cosine", "builtin")
    store.merge_upsert("c", [point(n) for n in range(25)])
    hits = list(store.scroll("c", batch=7))
    assert sorted(h.payload["n"] for h in hits) == list(range(25))
    assert {h.score for h in hits} == {0.0}


def test_a_write_that_returned_survives_kill_9(root: Path) -> None:
    code = textwrap.dedent(
        f"""
        import os, signal, uuid
        from ingest_gui.core.edge_store import EdgeStore
        from ingest_gui.core.store import PointData
        s = EdgeStore({str(root)!r})
        s.create("c", 4, "Cosine", "builtin")
        ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, str(n))) for n in range(40)]
        for i in range(0, 40, 8):
            s.merge_upsert("c", [PointData(p, [1.0, 2.0, 3.0, float(n)], {{"n": n}})
                                 for n, p in enumerate(ids[i:i + 8], start=i)])
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "written" in out.stdout, out.stderr
    s = EdgeStore(root)  # the lock died with the process
    try:
        assert s.info("c").points == 40
        assert sorted(h.payload["n"] for h in s.scroll("c")) == list(range(40))
    finally:
        s.close()


def test_an_interrupted_index_swap_keeps_the_old_shard(root: Path) -> None:
    s = EdgeStore(root)
    s.create("c", DIM, "Cosine", "builtin")
    s.merge_upsert("c", [point(n) for n in range(30)])
    s.close()
    folder = root / "c"
    (folder / "shard").rename(folder / "shard.old")  # as a crash mid-swap leaves it
    shutil.copytree(folder / "shard.old", folder / "shard")
    (folder / ".build-dead").mkdir()
    s = EdgeStore(root)
    try:
        assert s.info("c").points == 30
        assert sorted(p.name for p in folder.iterdir()) == ["collection.json", "shard"]
    finally:
        s.close()


def _indexed(store: EdgeStore, name: str) -> int:
    shard = store._open[name].shard
    assert shard is not None
    return int(shard.info().indexed_vectors_count)


def test_background_index_build_keeps_every_write(root: Path) -> None:
    s = EdgeStore(root, index_after=200)
    try:
        s.create("c", DIM, "Cosine", "builtin")
        s.merge_upsert("c", [point(n) for n in range(300)])  # starts a build
        # Writes while the child indexes the copy: new points, new paths, deletions.
        s.merge_upsert("c", [point(n) for n in range(300, 340)])
        s.merge_upsert("c", [point(5, "/other/5.jpg")])
        s.delete_points("c", [pid(n) for n in range(10, 20)])
        assert s.search("c", vec(7), limit=1)[0].id == pid(7)  # reads go on meanwhile
        assert s.wait_indexing("c", timeout=120)
        assert _indexed(s, "c") >= 200
        assert s.info("c").points == 330
        assert s.payloads("c", [pid(5)])[pid(5)]["paths"] == ["/p/5.jpg", "/other/5.jpg"]
        assert s.payloads("c", [pid(n) for n in range(10, 20)]) == {}
        for n in (0, 150, 299, 320, 339):
            assert s.search("c", vec(n), limit=1)[0].id == pid(n)
    finally:
        s.close()
    s = EdgeStore(root, index_after=200)
    try:
        assert s.info("c").points == 330 and _indexed(s, "c") >= 200
        assert sorted(p.name for p in (root / "c").iterdir()) == ["collection.json", "shard"]
    finally:
        s.close()


def test_delete_and_close_during_an_index_build(root: Path) -> None:
    s = EdgeStore(root, index_after=100)
    s.create("a", DIM, "Cosine", "builtin")
    s.create("b", DIM, "Cosine", "builtin")
    s.merge_upsert("a", [point(n) for n in range(150)])
    s.merge_upsert("b", [point(n) for n in range(150)])
    s.delete("a")  # stops a's build
    assert not (root / "a").exists()
    s.create("a", DIM, "Cosine", "builtin")
    assert s.info("a").points == 0
    s.close()  # stops b's build; b is intact
    s = EdgeStore(root, index_after=None)
    try:
        assert s.info("b").points == 150 and s.info("a").points == 0
    finally:
        s.close()


def test_a_failed_index_build_leaves_the_collection_as_it_was(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest_gui.core.edge_store as edge_store

    real_load = edge_store._load

    def load(shard_dir: Path) -> object:
        if shard_dir.name.startswith(".build-"):
            raise RuntimeError("simulated: the indexed copy cannot be opened")
        return real_load(shard_dir)

    monkeypatch.setattr(edge_store, "_load", load)
    s = EdgeStore(root, index_after=100)
    try:
        s.create("c", DIM, "Cosine", "builtin")
        s.merge_upsert("c", [point(n) for n in range(150)])
        assert s.wait_indexing("c", timeout=120)
        s.merge_upsert("c", [point(n) for n in range(150, 160)])  # no retry right away
        assert s._open["c"].build is None
        assert s.info("c").points == 160 and _indexed(s, "c") == 0
        assert s.search("c", vec(3), limit=1)[0].id == pid(3)
        assert sorted(p.name for p in (root / "c").iterdir()) == ["collection.json", "shard"]
    finally:
        s.close()


def test_threads_write_and_search_while_indexes_are_built(root: Path) -> None:
    import threading

    s = EdgeStore(root, index_after=150)
    s.create("c", DIM, "Cosine", "builtin")
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for start in range(k * 400, (k + 1) * 400, 20):
                s.merge_upsert("c", [point(n) for n in range(start, start + 20)])
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for n in range(200):
                s.search("c", vec(n), limit=5)
                s.info("c")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not errors, errors
        assert s.wait_indexing("c", timeout=120)
        assert s.info("c").points == 1200
        assert len(s.payloads("c", [pid(n) for n in range(1200)])) == 1200
        for n in (0, 399, 400, 1199):
            assert s.search("c", vec(n), limit=1)[0].id == pid(n)
    finally:
        s.close()


def test_writes_are_flushed_once_they_pause(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import ingest_gui.core.edge_store as edge_store

    monkeypatch.setattr(edge_store, "FLUSH_QUIET_S", 0.5)
    s = EdgeStore(root)
    try:
        s.create("c", DIM, "Cosine", "builtin")
        s.merge_upsert("c", [point(1)])
        c = s._open["c"]
        assert c.dirty  # in the WAL; flushed when writes pause
        deadline = time.monotonic() + 10
        while c.dirty and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not c.dirty
    finally:
        s.close()
    s = EdgeStore(root, fsync_each_write=True)
    try:
        s.merge_upsert("c", [point(2)])
        assert not s._open["c"].dirty
    finally:
        s.close()


def test_a_burst_of_writes_waits_for_a_pause_before_indexing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest_gui.core.edge_store as edge_store

    monkeypatch.setattr(edge_store, "BURST_RATE", 10.0)
    s = EdgeStore(root, index_after=100)
    try:
        s.create("c", DIM, "Cosine", "builtin")
        for start in range(0, 300, 50):
            s.merge_upsert("c", [point(n) for n in range(start, start + 50)])
        assert s._open["c"].build is None  # points still arriving fast: no build yet
        assert s.wait_indexing("c", timeout=120)  # the pause (or this call) starts it
        assert _indexed(s, "c") >= 100 and s.info("c").points == 300
    finally:
        s.close()
