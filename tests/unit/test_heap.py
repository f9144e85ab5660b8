"""monitor.heap: the collector settings the daemon runs with, and the freeze it takes after
start-up and every reload (a reload's leftovers must still be collected)."""

from __future__ import annotations

import gc
import weakref

import pytest

from monitor import heap


@pytest.fixture(autouse=True)
def _restore_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Node:
    """A container object; two of them pointing at each other are a cycle only the collector frees."""


def _cycle() -> tuple[_Node, weakref.ref]:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return first, weakref.ref(second)


def test_tune_raises_only_the_young_threshold():
    gc.set_threshold(700, 10, 10)
    heap.tune()
    assert gc.get_threshold() == (50_000, 10, 10)
    assert heap.YOUNG_THRESHOLD == 50_000


def test_settle_freezes_what_exists_so_collections_do_not_walk_it():
    kept, alive = _cycle()
    frozen = heap.settle()
    assert frozen == gc.get_freeze_count() > 0
    # Frozen objects are in the permanent generation, which collections (and get_objects) skip.
    assert not any(obj is kept for obj in gc.get_objects())


def test_settle_collects_what_the_previous_freeze_held():
    """A reload drops the old configuration; the next settle must free it, cycles included."""
    kept, alive = _cycle()
    heap.settle()
    del kept
    gc.collect()
    assert alive() is not None  # frozen: a plain collection leaves it (what freezing is for)
    heap.settle()
    assert alive() is None


def test_garbage_made_before_settle_is_not_frozen():
    kept, alive = _cycle()
    del kept
    heap.settle()
    assert alive() is None
