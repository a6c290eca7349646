"""When a serving process runs CPython's cyclic garbage collector, and over what (ADR 43).

CPython 3.11 collects its oldest generation whenever the objects promoted into it since the last
full collection reach a quarter of what it holds, and a full collection walks every tracked
object of the process at once. A process holding 2,000 chat sockets has about a million of them
(each socket ~300 objects of uvicorn, websockets, starlette and asyncio, plus what start-up
made), so that pause is 0.5 s on an idle machine and 1-3 s on a loaded one; it lands on
whichever chat message is in flight (bench/chat.py). Collecting less often only spaces the same
pause out.

This policy keeps the pause proportional to what is young instead of to everything alive:

- **Minor**: automatic collections of the oldest generation are off. A timer looks at it every
  ``check_seconds``; once it holds ``young_objects`` objects, it collects generations 0-2 (which
  now hold only what came since the last freeze) and freezes the survivors (``gc.freeze``). A
  frozen object is never walked again, and it is still freed by reference counting like any
  other; only a reference cycle among frozen objects outlives its last outside reference.
- **Major**: that garbage is bounded. Once the frozen set has grown by ``growth`` (a fraction)
  since the last major, everything is thawed, collected in full and frozen again. That is the
  old, long pause, but it comes after the process's live objects grew by half (more sockets,
  models loaded on first use) or after that much cyclic garbage was frozen, not every few
  hundred messages.

``young_objects=0`` leaves CPython's own policy in place (the start-up freeze of ADR 40 only).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Larger than any count of young collections a process reaches: the oldest generation is never
# collected automatically (CPython compares this count with the threshold before anything else).
NEVER = 1_000_000_000


def resident_bytes() -> int:
    """The process's resident memory (Linux); 0 where /proc is not there, which turns the
    memory trigger off."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class CollectorStats:
    minors: int = 0
    majors: int = 0
    last_minor_seconds: float = 0.0
    last_major_seconds: float = 0.0
    # Frozen objects right after the last major (or start): what "growth" is measured from.
    frozen_base: int = 0
    # Objects frozen by minors since then: an upper bound of the growth, since a frozen object
    # freed by reference counting leaves the frozen set unseen.
    frozen_since: int = 0
    # Resident memory right after the last major (or start).
    resident_base: int = 0


class Collector:
    def __init__(
        self,
        *,
        young_objects: int,
        growth: float = 0.5,
        check_seconds: float = 0.5,
        resident: Callable[[], int] = resident_bytes,
    ) -> None:
        if young_objects < 0 or growth <= 0 or check_seconds <= 0:
            raise ValueError("young_objects must be >= 0, growth and check_seconds > 0")
        self.young_objects = young_objects
        self.growth = growth
        self.check_seconds = check_seconds
        self._resident = resident
        self.stats = CollectorStats()
        self._thresholds: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self._thresholds is not None

    def start(self) -> None:
        """Collect and freeze what start-up made (modules, mappers, schemas: ~350,000 objects
        that live as long as the process), then, unless disabled, take over the oldest
        generation. Call from a running event loop."""
        gc.collect()
        gc.freeze()
        self._rebase()
        if self.young_objects == 0 or self.active:
            return
        self._thresholds = gc.get_threshold()
        first, second, _ = self._thresholds
        gc.set_threshold(first, second, NEVER)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="opora-collector")

    async def stop(self) -> None:
        """Give the oldest generation back to CPython's policy. What is frozen stays frozen, as
        after the start-up freeze alone."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                self.step()
            except Exception:  # a failed check must not end the policy: nothing else collects
                log.exception("garbage collection step failed")

    def step(self) -> str | None:
        """One check: "minor", "major" (a minor whose freeze made a major due) or None.

        Runs every ``check_seconds``, so it must cost next to nothing when nothing is due:
        listing the oldest generation is proportional to what is young. Counting the frozen set
        (``gc.get_freeze_count``) walks all of it, a million list nodes with 2,000 sockets and
        100 ms or more on a busy machine, so it is done only when the running estimate says a
        major may be due.
        """
        if len(gc.get_objects(generation=2)) < self.young_objects:
            return None
        self.minor()
        if self._memory_grew():
            self.major()
            return "major"
        if self.stats.frozen_since <= self.stats.frozen_base * self.growth:
            return "minor"
        # The estimate counts frozen objects that have died since (closed sockets): look.
        self.stats.frozen_since = gc.get_freeze_count() - self.stats.frozen_base
        if self.stats.frozen_since <= self.stats.frozen_base * self.growth:
            return "minor"
        self.major()
        return "major"

    def _memory_grew(self) -> bool:
        """Counting objects misses what frozen garbage holds: a chat socket closed by the real
        server (uvicorn, websockets) leaves a cycle of ~75 objects that keeps ~60 KB of buffers
        alive, so memory, too, may grow by ``growth`` before a major."""
        base = self.stats.resident_base
        return base > 0 and self._resident() > base * (1 + self.growth)

    def minor(self) -> None:
        """Collect what came since the last freeze and freeze what survived."""
        started = time.perf_counter()
        gc.collect(2)
        survivors = len(gc.get_objects())
        gc.freeze()
        self.stats.last_minor_seconds = time.perf_counter() - started
        self.stats.minors += 1
        self.stats.frozen_since += survivors

    def major(self) -> None:
        """Collect everything, the frozen set included, and freeze what survived."""
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.stats.last_major_seconds = time.perf_counter() - started
        self.stats.majors += 1
        self._rebase()

    def _rebase(self) -> None:
        self.stats.frozen_base = gc.get_freeze_count()
        self.stats.frozen_since = 0
        self.stats.resident_base = self._resident()
