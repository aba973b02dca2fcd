import threading
from pathlib import Path

import pytest

from tocsin.policy import PolicyError, PolicyStore, example_policy_text, parse_policy

GOOD = example_policy_text()


def test_initial_load(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(GOOD, encoding="utf-8")
    store = PolicyStore(path)
    assert store.current.severity("P0").name == "SEV1"
    assert store.path == path


def test_initial_load_failure_raises(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text("severities: []\n", encoding="utf-8")
    with pytest.raises(PolicyError):
        PolicyStore(path)
    with pytest.raises(PolicyError):
        PolicyStore(tmp_path / "missing.yaml")


def test_bad_reload_keeps_the_old_policy(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(GOOD, encoding="utf-8")
    store = PolicyStore(path)
    before = store.current

    path.write_text(GOOD.replace("respond_within: 5m", "respond_within: 5 minutes"), "utf-8")
    with pytest.raises(PolicyError) as caught:
        store.reload()
    assert caught.value.issues[0].path == "severities[0].respond_within"
    assert store.current is before

    path.unlink()
    with pytest.raises(PolicyError):
        store.reload()
    assert store.current is before


def test_good_reload_swaps(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(GOOD, encoding="utf-8")
    store = PolicyStore(path)
    path.write_text(GOOD.replace("respond_within: 5m", "respond_within: 2m"), "utf-8")
    reloaded = store.reload()
    assert store.current is reloaded
    assert store.current.severity("SEV1").respond_within.total_seconds() == 120


def test_from_policy() -> None:
    policy = parse_policy(GOOD)
    store = PolicyStore.from_policy(policy)
    assert store.current is policy
    with pytest.raises(PolicyError, match="no file to reload"):
        store.reload()
    assert store.current is policy


def test_concurrent_reads_during_reloads(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(GOOD, encoding="utf-8")
    store = PolicyStore(path)
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(store.current.severity("P0").name)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(5):
            store.reload()
    finally:
        stop.set()
        reader.join()
    assert set(seen) <= {"SEV1"}
