"""The collector policy of a serving process (ADR 43): short collections of what is young, frozen
survivors, and a full collection once the frozen set has grown, so cyclic garbage is still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from opora.app import create_app
from opora.config import Settings
from opora.ops.collector import NEVER, Collector, resident_bytes
from opora.runtime import build_runtime
from tests.ops.test_metrics import scrape


class Node:
    """A tracked object that can sit in a reference cycle and be watched by a weak reference."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


def frozen(obj: object) -> bool:
    """Alive, tracked, and in none of the three generations: in the permanent one."""
    return gc.is_tracked(obj) and all(o is not obj for g in range(3) for o in gc.get_objects(g))


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    before = gc.get_threshold()
    # Steps run by hand; resident memory stays put unless a test says otherwise.
    policy = Collector(young_objects=1_000, growth=0.5, check_seconds=3600, resident=lambda: 100 << 20)
    policy.start()
    yield policy
    await policy.stop()
    assert gc.get_threshold() == before


async def test_start_freezes_and_takes_over_the_oldest_generation_and_stop_gives_it_back() -> None:
    before = gc.get_threshold()
    policy = Collector(young_objects=1_000)
    made = Node()
    policy.start()
    try:
        assert frozen(made)
        assert policy.active
        assert gc.get_threshold() == (before[0], before[1], NEVER)
        # (objects other tests left to threads may be freed meanwhile, frozen or not)
        assert abs(policy.stats.frozen_base - gc.get_freeze_count()) < 1_000
    finally:
        await policy.stop()
    assert not policy.active
    assert gc.get_threshold() == before


async def test_zero_young_objects_keeps_cpythons_policy_after_the_start_up_freeze() -> None:
    before = gc.get_threshold()
    policy = Collector(young_objects=0)
    made = Node()
    policy.start()
    try:
        assert frozen(made)
        assert not policy.active
        assert gc.get_threshold() == before
    finally:
        await policy.stop()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="young_objects must be"):
        Collector(young_objects=-1)
    with pytest.raises(ValueError, match="young_objects must be"):
        Collector(young_objects=10, growth=0)


async def test_a_minor_frees_young_cyclic_garbage_and_freezes_what_survives(collector: Collector) -> None:
    kept = [Node() for _ in range(1_500)]
    garbage, garbage_ref = cycle()
    gc.collect(1)  # survivors of the young generations move to the oldest one, as under load
    gc.collect(1)
    del garbage
    assert garbage_ref() is not None  # only a collection of the oldest generation frees it
    assert len(gc.get_objects(generation=2)) >= collector.young_objects

    assert collector.step() == "minor"

    assert garbage_ref() is None
    assert all(frozen(node) for node in kept[:: len(kept) // 10])
    assert len(gc.get_objects(generation=2)) < collector.young_objects
    assert collector.stats.minors == 1


async def test_nothing_is_due_while_the_young_objects_are_few(collector: Collector) -> None:
    gc.collect(2)  # the test run's own leftovers out of the way; a collection the policy allows
    assert collector.step() is None
    assert collector.stats.minors == collector.stats.majors == 0


def promote() -> None:
    """Survivors of the young generations into the oldest one, as under load."""
    gc.collect(1)
    gc.collect(1)


async def test_frozen_cyclic_garbage_is_freed_once_the_frozen_set_has_grown(collector: Collector) -> None:
    # A cycle that was alive at a minor is frozen with the survivors; dropped afterwards, it
    # outlives its last reference until a major, which the frozen set's growth brings.
    pair, pair_ref = cycle()
    collector.minor()
    assert frozen(pair)
    del pair
    assert pair_ref() is not None

    grown = [Node() for _ in range(int(collector.stats.frozen_base * collector.growth) + 1_000)]
    promote()
    assert collector.step() == "major"

    assert pair_ref() is None
    assert frozen(grown[0])  # what is alive is frozen again
    assert collector.stats.majors == 1
    assert collector.stats.frozen_since == 0
    # Measured from the major: the next one waits for another half of what survived it.
    assert abs(collector.stats.frozen_base - gc.get_freeze_count()) < 1_000
    assert collector.step() is None


async def test_frozen_objects_freed_by_reference_counting_do_not_bring_a_major(collector: Collector) -> None:
    # Sockets that close free their frozen objects unseen by the running estimate; before a
    # major the collector counts the frozen set and finds it has not grown.
    passing = [Node() for _ in range(int(collector.stats.frozen_base * collector.growth) + 1_000)]
    collector.minor()
    assert frozen(passing[0])
    del passing
    assert collector.stats.frozen_since > collector.stats.frozen_base * collector.growth

    young = [Node() for _ in range(collector.young_objects)]
    promote()
    assert collector.step() == "minor"

    assert collector.stats.majors == 0
    assert collector.stats.frozen_since < collector.stats.frozen_base * collector.growth
    assert frozen(young[0])


async def test_memory_grown_by_half_brings_a_major_though_the_objects_did_not() -> None:
    # A closed chat socket's frozen cycle counts ~75 objects but keeps tens of KB of buffers.
    resident = [100 << 20]
    policy = Collector(young_objects=1_000, growth=0.5, check_seconds=3600, resident=lambda: resident[0])
    policy.start()
    try:
        assert policy.stats.resident_base == 100 << 20
        young = [Node() for _ in range(policy.young_objects)]
        promote()
        resident[0] = 140 << 20
        assert policy.step() == "minor"

        young += [Node() for _ in range(policy.young_objects)]
        promote()
        resident[0] = 151 << 20
        assert policy.step() == "major"
        assert policy.stats.resident_base == 151 << 20  # the next one is measured from here
        assert frozen(young[0])
    finally:
        await policy.stop()


def test_resident_memory_is_read_from_proc() -> None:
    assert resident_bytes() > 10 << 20


async def test_the_apps_lifespan_applies_the_configured_policy_and_restores_cpythons(tmp_path: Path) -> None:
    before = gc.get_threshold()
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gc.db'}",
        secret_key="test-secret-key",
        embedded_worker=False,
        gc_young_objects=5_000,
        gc_major_growth=0.25,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(build_runtime(settings), run_worker=False)
    async with app.router.lifespan_context(app):
        policy: Collector = app.state.collector
        assert policy.active
        assert (policy.young_objects, policy.growth) == (5_000, 0.25)
        assert gc.get_threshold()[2] == NEVER
        policy.minor()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            samples = await scrape(http)
        assert samples[("opora_gc_collections_total", (("kind", "minor"),))] == 1
        assert samples[("opora_gc_collections_total", (("kind", "major"),))] == 0
        assert samples[("opora_gc_last_pause_seconds", (("kind", "minor"),))] > 0
    assert gc.get_threshold() == before
