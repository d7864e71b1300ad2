"""Running steps concurrently over their dependency graph, as the engine's step executor does.

The engine runs every step whose prerequisites are done at once (up to ``--parallel``); the
provider host then serves up to 4 calls at a time. Registrations during ``up`` are concurrent by
themselves (the SDK registers a resource as soon as its inputs resolve, from a thread pool);
deletes and refresh reads are scheduled here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T", bound=Hashable)

DEFAULT_PARALLEL = 16


def run_graph(
    items: Sequence[T],
    after: Callable[[T], set[T]],
    work: Callable[[T], None],
    parallel: int = DEFAULT_PARALLEL,
) -> None:
    """Call ``work(item)`` for each item, concurrently, each only once every item in
    ``after(item)`` (restricted to ``items``) is done.

    The first failure stops new work from starting; work in flight finishes, then the failure is
    raised (the engine stops the same way). Items left in a cycle run in the given order.
    """
    pending = list(items)
    waits = {item: after(item) & set(items) - {item} for item in pending}
    done: set[T] = set()
    running: dict[Future, T] = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        while pending or running:
            if failure is None:
                ready = [item for item in pending if waits[item] <= done]
                if not ready and not running and pending:
                    ready = pending[:1]  # a cycle: fall back to the given order
                for item in ready:
                    pending.remove(item)
                    running[pool.submit(work, item)] = item
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                item = running.pop(future)
                error = future.exception()
                if error is not None and failure is None:
                    failure = error
                done.add(item)
    if failure is not None:
        raise failure
