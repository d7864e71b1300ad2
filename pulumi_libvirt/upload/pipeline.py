"""Stages in threads joined by bounded queues: receive -> hash -> (the caller) send.

Each stage runs in its own thread, so reading the source, hashing and sending to libvirt
overlap on as many cores as there are stages (all three release the GIL for their heavy part:
socket reads, sha256 and libvirt's stream calls). Queues hold at most ``DEPTH`` items each, so
memory stays flat whatever the image size. The first failure anywhere stops every stage: it
sets the shared ``stop`` event, the source's ``interrupt`` unblocks a read waiting on the
network, and the caller gets the failing stage's exception.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .errors import UploadError
from .sparse import Item

#: Items handed from stage to stage at once (sources read 1 MiB at a time: one is enough).
BATCH = 1
#: Batches buffered between two stages (with 1 MiB reads: 4 MiB per queue).
DEPTH = 4

_END = object()
_POLL = 0.05  # seconds between looks at ``stop`` while a queue is full or empty


class Stopped(Exception):
    """The pipeline was stopped: another stage failed or the caller left."""


class _Channel:
    """A bounded queue whose ``put`` and ``get`` give up once ``stop`` is set.

    Two C-level SimpleQueues (items, and free slots) rather than ``queue.Queue``: a handoff
    costs a lock operation instead of a Python-level condition variable.
    """

    def __init__(self, stop: threading.Event, depth: int) -> None:
        self._items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(depth):
            self._slots.put(None)
        self._stop = stop

    def put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._slots.get(timeout=_POLL)
            except queue.Empty:
                continue
            self._items.put(item)
            return
        raise Stopped

    def get(self) -> Any:
        while not self._stop.is_set():
            try:
                item = self._items.get(timeout=_POLL)
            except queue.Empty:
                continue
            self._slots.put(None)
            return item
        raise Stopped


class Pipeline:
    """Produce items in one thread, pass each through ``stages`` (one thread each), in order.

    ``with Pipeline(items, [hash_item], stop=...) as out: for item in out: send(item)``: the
    caller's loop is the last stage. Leaving the block stops and joins every thread and closes
    the ``items`` iterator (in the thread that runs it), whatever happened.
    """

    def __init__(
        self,
        items: Iterable[Item],
        stages: Sequence[Callable[[Item], None]] = (),
        *,
        stop: threading.Event | None = None,
        interrupt: Callable[[], None] = lambda: None,
        depth: int = DEPTH,
        batch: int = BATCH,
        name: str = "upload",
    ) -> None:
        self._items = items
        self._batch = batch
        self._stop = stop or threading.Event()
        self._interrupt = interrupt
        self._channels = [_Channel(self._stop, depth) for _ in range(len(stages) + 1)]
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        workers: list[tuple[str, Callable[[], None]]] = [(f"{name}-read", self._produce)]
        for i, stage in enumerate(stages):
            workers.append(
                (f"{name}-{getattr(stage, '__name__', 'stage')}", self._runner(i, stage))
            )
        self._threads = [
            threading.Thread(target=self._guard, args=(work,), name=label, daemon=True)
            for label, work in workers
        ]

    # -- threads
    def _guard(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Stopped:
            pass
        except BaseException as e:  # handed to the caller
            self._fail(e)

    def _fail(self, error: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = error
        self._halt()

    def _halt(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            try:
                self._interrupt()
            except Exception:
                pass

    def _produce(self) -> None:
        out, size = self._channels[0], self._batch
        items = iter(self._items)
        try:
            batch: list[Item] = []
            for item in items:
                batch.append(item)
                if len(batch) >= size:
                    if self._stop.is_set():
                        raise Stopped
                    out.put(batch)
                    batch = []
            if batch:
                out.put(batch)
            out.put(_END)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _runner(self, i: int, stage: Callable[[Item], None]) -> Callable[[], None]:
        inbox, out = self._channels[i], self._channels[i + 1]

        def run() -> None:
            while True:
                batch = inbox.get()
                if batch is not _END:
                    for item in batch:
                        if self._stop.is_set():
                            raise Stopped
                        stage(item)
                out.put(batch)
                if batch is _END:
                    return

        return run

    # -- the caller's side
    def __enter__(self) -> Iterator[Item]:
        for thread in self._threads:
            thread.start()
        return self._drain()

    def _drain(self) -> Iterator[Item]:
        last = self._channels[-1]
        while True:
            try:
                batch = last.get()
            except Stopped:
                break
            if batch is _END:
                return
            yield from batch
        raise self._error or UploadError("upload cancelled")

    def __exit__(self, *exc: object) -> None:
        self._halt()
        for thread in self._threads:
            thread.join()
