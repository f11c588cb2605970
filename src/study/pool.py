"""Independent runs of one stage shared over both cores: forked worker processes inherit the
task and its data (nothing large is pickled), each run is seeded on its own, so the results
are the same bytes as running them one after another."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor

_SHARED: dict = {}  # what forked workers inherit instead of receiving it pickled


def _run(item):
    return _SHARED["task"](item)


def fork_map(task: Callable, items: Iterable, workers: int) -> list:
    """[task(item) for item in items], in order, over ``workers`` forked processes (in this
    process when ``workers`` is 1 or there is one item). ``task`` may be a closure; items and
    results must pickle."""
    items = list(items)
    if workers == 1 or len(items) < 2:
        return [task(item) for item in items]
    _SHARED["task"] = task
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(items)), mp_context=context) as pool:
            return list(pool.map(_run, items))
    finally:
        _SHARED.clear()
