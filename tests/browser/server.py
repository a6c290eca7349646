"""The desk as a real server process for the browser tests: ``python -m tests.browser.server PORT DB_URL
REDIS_URL|- DATA_DIR``. Same settings as the test's own runtime, so both see the same database."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from opora.app import create_app
from opora.bot import service as bot_service
from opora.cli import WEBSOCKET_IMPLEMENTATION
from opora.config import Settings
from opora.runtime import build_runtime
from tests.bot.fakes import WordHashEmbedder
from tests.support.settings import settings_for


def main() -> None:
    port, database_url, redis_url, data_dir = sys.argv[1:5]
    # The bot's models in browser tests are trained with the hashing test encoder; the server
    # must encode the same way (and not load the 150 MB sentence encoder).
    bot_service.bot_embedder = WordHashEmbedder  # type: ignore[attr-defined,assignment]
    settings = settings_for(Path(data_dir), database_url, redis_url=None if redis_url == "-" else redis_url)
    # Every test recreates the desk under this long-lived server, by writes it never sees: cached
    # settings would name another test's teams and policies.
    # A serving process like `opora serve`: the default collector policy and WebSocket protocol.
    settings = settings.model_copy(
        update={
            "read_cache_seconds": 0.0,
            "gc_young_objects": Settings.model_fields["gc_young_objects"].default,
        }
    )
    app = create_app(build_runtime(settings), run_worker=True)
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", ws=WEBSOCKET_IMPLEMENTATION)


if __name__ == "__main__":
    main()
