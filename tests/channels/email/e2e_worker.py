"""A job worker process running the real inbox pipeline, for the SIGKILL test.

    python -m tests.channels.email.e2e_worker --data-dir DIR --stall-after N [--lease S]

The database comes from ``OPORA_DATABASE_URL``. Once it has added at least N messages (counted
across its transactions) an inbound hook writes ``DIR/stalled`` and sleeps inside the still open
transaction, so the test can kill it with uncommitted messages in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import opora.channels.email  # noqa: F401  (registers the channel type)
from opora.inbox import service as inbox_service
from opora.jobs.worker import Worker, run_worker_forever
from opora.runtime import build_runtime
from tests.support.settings import settings_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--stall-after", type=int, required=True)
    parser.add_argument("--lease", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = settings_for(args.data_dir, os.environ["OPORA_DATABASE_URL"])
    added = 0

    async def stall(*hook_args: Any) -> None:
        nonlocal added
        # Hooks get the batch's stored messages (one call per batch); count them all.
        last = hook_args[-1] if hook_args else None
        added += len(last) if isinstance(last, list) else 1
        if added >= args.stall_after:
            (args.data_dir / "stalled").write_text(str(added))
            await asyncio.sleep(3600)

    inbox_service.inbound_hooks.append(stall)

    def on_ready(worker: Worker) -> None:
        (args.data_dir / "ready").write_text(worker.worker_id)

    asyncio.run(
        run_worker_forever(
            build_runtime(settings),
            1,
            on_ready=on_ready,
            worker_id="victim",
            lease_seconds=args.lease,
            poll_seconds=0.1,
        )
    )


if __name__ == "__main__":
    main()
