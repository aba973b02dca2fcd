"""SQLite's writer lock lets a person's action and the engine go before bulk ingestion,
among threads of one process and between processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tocsin.db import writers
from tocsin.db.writers import WriterLock


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bulk and background writers step aside for as long as the test takes."""
    monkeypatch.setattr(writers, "BULK_PATIENCE", 60.0)
    monkeypatch.setattr(writers, "BACKGROUND_PATIENCE", 60.0)


def _wait_until(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.005)
    raise AssertionError("not reached")


class Queue:
    """Writers of ``lock`` that note the order in which they got it. The first, of
    kind ``holder`` (keywords of :meth:`WriterLock.held`), holds it until
    :meth:`let_go`; the others queue behind it with :meth:`write`."""

    def __init__(self, lock: WriterLock, **holder: bool) -> None:
        self.lock = lock
        self.order: list[str] = []
        self._release = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start(self._hold, holder)
        _wait_until(lambda: self.order == ["holder"])

    def write(self, name: str, lasting: float = 0, **kind: bool) -> None:
        """Queue a writer of ``kind`` that holds the lock for ``lasting`` seconds."""
        self._start(self._write, kind, name, lasting)

    def let_go(self) -> list[str]:
        self._release.set()
        for thread in self._threads:
            thread.join(10)
        return self.order

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args)
        thread.start()
        self._threads.append(thread)

    def _hold(self, kind: dict[str, bool]) -> None:
        with self.lock.held(**kind):
            self.order.append("holder")
            self._release.wait(10)

    def _write(self, kind: dict[str, bool], name: str, lasting: float) -> None:
        with self.lock.held(**kind):
            self.order.append(name)
            time.sleep(lasting)


def test_a_priority_writer_goes_before_a_bulk_writer_that_waited_longer(
    tmp_path: Path, patient: None
) -> None:
    lock = WriterLock(tmp_path / "db.writer-lock")
    queue = Queue(lock, bulk=True)
    queue.write("bulk", bulk=True)
    queue.write("priority")
    _wait_until(lambda: lock._priority_waiting == 1)
    assert queue.let_go() == ["holder", "priority", "bulk"]


def _priority_in_other_process(lock_file: str, log: str, started: object) -> None:
    lock = WriterLock(Path(lock_file))
    started.set()  # type: ignore[attr-defined]
    with lock.held(bulk=False), open(log, "a") as out:
        out.write("priority\n")


def test_a_priority_writer_of_another_process_goes_before_bulk_work(
    tmp_path: Path, patient: None
) -> None:
    lock_file = tmp_path / "db.writer-lock"
    log = tmp_path / "order.log"
    lock = WriterLock(lock_file)
    release = threading.Event()
    held = threading.Event()

    def holder() -> None:
        with lock.held(bulk=True):
            held.set()
            release.wait(10)

    def bulk() -> None:
        with lock.held(bulk=True), open(log, "a") as out:
            out.write("bulk\n")

    first = threading.Thread(target=holder)
    first.start()
    held.wait(10)
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    other = context.Process(
        target=_priority_in_other_process, args=(str(lock_file), str(log), started)
    )
    other.start()
    started.wait(30)
    # The other process now waits for the lock, holding the gate shared.
    gate = lock_file.with_name(lock_file.name.replace("writer-lock", "writer-gate"))
    _wait_until(lambda: _gate_held_shared(gate))
    second = threading.Thread(target=bulk)
    second.start()
    release.set()
    first.join(10)
    second.join(10)
    other.join(30)
    assert log.read_text().split() == ["priority", "bulk"]


def _gate_held_shared(gate: Path) -> bool:
    """True while some process holds the gate file shared (an exclusive try fails)."""
    import fcntl
    import os

    if not gate.exists():
        return False
    fd = os.open(gate, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases an exclusive lock we may have taken
    return False


def _turn_during_a_flood(
    lock: WriterLock, flood: dict[str, bool], writer: dict[str, bool], flooding: object
) -> bool:
    """Whether a writer of kind ``writer`` gets the lock within 5 s while two threads
    write as ``flood`` without pause (one always waits while the other writes);
    ``flooding()`` says when the flood's writers are waiting."""
    stop = threading.Event()
    turn = threading.Event()

    def flood_writes() -> None:
        while not stop.is_set():
            with lock.held(**flood):
                time.sleep(0.001)  # a short transaction

    def one_write() -> None:
        with lock.held(**writer):
            turn.set()

    crowd = [threading.Thread(target=flood_writes) for _ in range(2)]
    for thread in crowd:
        thread.start()
    _wait_until(flooding)
    waiting = threading.Thread(target=one_write)
    waiting.start()
    try:
        return turn.wait(5)
    finally:
        stop.set()
        for thread in [*crowd, waiting]:
            thread.join(10)


def test_a_flood_of_priority_writers_never_starves_bulk_work(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "db.writer-lock")
    stored = _turn_during_a_flood(lock, {}, {"bulk": True}, lambda: lock._priority_waiting >= 1)
    assert stored, "bulk work never got the lock"


def test_a_person_goes_before_the_engine_and_deliveries(tmp_path: Path, patient: None) -> None:
    lock = WriterLock(tmp_path / "db.writer-lock")
    queue = Queue(lock, background=True)
    queue.write("engine", background=True)
    _wait_until(lambda: lock._priority_waiting == 1)
    queue.write("person")
    _wait_until(lambda: lock._foreground_waiting == 1)
    assert queue.let_go() == ["holder", "person", "engine"]


def test_bulk_work_waits_for_every_writer_that_was_already_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However short its patience, a bulk writer lets the engine and the delivery
    workers that queued before it go first: a page in the making waits for at most one
    bulk transaction per round, not one per writer ahead of it."""
    monkeypatch.setattr(writers, "BULK_MAX_PATIENCE", 60.0)  # only the rule itself
    lock = WriterLock(tmp_path / "db.writer-lock")
    queue = Queue(lock, background=True)
    for n in range(4):  # each longer than the bulk writer's patience
        queue.write(f"engine-{n}", lasting=0.02, background=True)
    _wait_until(lambda: lock._priority_waiting == 4)
    queue.write("bulk", bulk=True)
    time.sleep(writers.BULK_PATIENCE * 3)  # its patience has run out while they wait
    order = queue.let_go()
    assert order[0] == "holder"
    assert order[-1] == "bulk"
    assert sorted(order[1:-1]) == [f"engine-{n}" for n in range(4)]


def test_a_stream_of_people_and_probe_alerts_never_starves_the_engine(tmp_path: Path) -> None:
    """Foreground writers go before the engine and the delivery worker, but a server
    that no longer keeps up with them must still page: the engine's turn comes."""
    lock = WriterLock(tmp_path / "db.writer-lock")
    engine = {"background": True}
    paged = _turn_during_a_flood(lock, {}, engine, lambda: lock._foreground_waiting >= 1)
    assert paged, "the engine never got the lock"


def test_once_its_patience_ran_out_the_engine_goes_before_people_who_come_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "BACKGROUND_PATIENCE", 0.05)
    lock = WriterLock(tmp_path / "db.writer-lock")
    queue = Queue(lock)
    queue.write("engine", background=True)
    _wait_until(lambda: lock._priority_waiting == 1)
    time.sleep(writers.BACKGROUND_PATIENCE * 3)  # its patience runs out while it waits
    for n in range(3):
        queue.write(f"late-{n}")
    _wait_until(lambda: lock._foreground_waiting == 3)
    order = queue.let_go()
    assert order[:2] == ["holder", "engine"]
    assert sorted(order[2:]) == ["late-0", "late-1", "late-2"]
