"""Independent runs of one stage shared over both cores: forked worker processes inherit the
task and its data (nothing large is pickled), each run is seeded on its own, so the results
are the same bytes as running them one after another."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor

_SHARED: dict = {}  # what forked workers inherit instead of receiving it pickled
_IN_WORKER = False


def _run(item):
    return _SHARED["task"](item)


def _mark_worker() -> None:
    global _IN_WORKER
    _IN_WORKER = True


def in_worker() -> bool:
    """True in a fork_map worker: progress there is log lines, since bars drawn by two
    processes on one terminal overwrite each other."""
    return _IN_WORKER


def fork_map(task: Callable, items: Iterable, workers: int,
             on_result: Callable[[int, object], None] | None = None) -> list:
    """[task(item) for item in items], in order, over ``workers`` forked processes (in this
    process when ``workers`` is 1 or there is one item). ``task`` may be a closure; items and
    results must pickle. ``on_result(i, result)`` runs here, in order, as the i-th result
    (1-based) arrives: progress over the runs, which workers cannot draw on one terminal."""
    items = list(items)
    results: list = []

    def collect(stream: Iterable) -> list:
        for result in stream:
            results.append(result)
            if on_result is not None:
                on_result(len(results), result)
        return results

    if workers == 1 or len(items) < 2:
        return collect(task(item) for item in items)
    _SHARED["task"] = task
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(items)), mp_context=context,
                                 initializer=_mark_worker) as pool:
            return collect(pool.map(_run, items))
    finally:
        _SHARED.clear()
