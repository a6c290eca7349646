"""Everything a process shares: settings, the database, the bus, attachment storage, job tasks."""

from __future__ import annotations

from dataclasses import dataclass, field

from opora.bot import embeddings
from opora.config import Settings
from opora.db import Database
from opora.events import reactions
from opora.events.bus import EventBus, make_bus
from opora.kb.search import semantic
from opora.kit.crypto import SecretBox
from opora.kit.storage import AttachmentStore


@dataclass
class Runtime:
    settings: Settings
    db: Database
    bus: EventBus
    storage: AttachmentStore
    secrets: SecretBox
    started: bool = field(default=False)

    async def start(self) -> None:
        if not self.started:
            await self.bus.start()
            self.started = True

    async def close(self) -> None:
        await self.bus.close()
        await self.db.dispose()
        self.started = False


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    settings.ensure_data_dir()
    reactions.discover()  # SLA, routing and rules react to ticket events in every process
    if settings.kb_search_reranking:
        # Only ever switched on: a process serves one desk, and tests that build several
        # runtimes switch it per test instead.
        semantic.configure(enabled=True)
    # Only a value someone chose stops the start when its weights are missing; the default falls
    # back to USE (a desk installed without requirements-nodeps.txt still starts).
    embeddings.configure(settings.bot_encoder, explicit="bot_encoder" in settings.model_fields_set)
    db = Database(settings.resolved_database_url, cache_seconds=settings.read_cache_seconds)
    bus = make_bus(settings.redis_url)
    db.publisher = bus
    return Runtime(
        settings=settings,
        db=db,
        bus=bus,
        storage=AttachmentStore(settings.attachments_dir, max_bytes=settings.max_attachment_bytes),
        secrets=SecretBox(settings.resolved_secret_key()),
    )
