"""The ASGI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from opora import __version__
from opora.agents import endpoints as agents_endpoints
from opora.analytics import endpoints as analytics_endpoints
from opora.assist import endpoints as assist_endpoints
from opora.auth import endpoints as auth_endpoints
from opora.automation import endpoints as automation_endpoints
from opora.bot import endpoints as bot_endpoints
from opora.canned import endpoints as canned_endpoints
from opora.channels import endpoints as channels_endpoints
from opora.channels import registry as channels_registry
from opora.channels.base import ChannelService
from opora.collision import endpoints as collision_endpoints
from opora.customers import endpoints as customers_endpoints
from opora.events import endpoints as events_endpoints
from opora.inbox import endpoints as inbox_endpoints
from opora.incidents import endpoints as incidents_endpoints
from opora.jobs import endpoints as jobs_endpoints
from opora.jobs.worker import Worker
from opora.kb import endpoints as kb_endpoints
from opora.kit.http import UnitOfWorkMiddleware, install_error_handlers
from opora.notifications import endpoints as notifications_endpoints
from opora.ops import endpoints as ops_endpoints
from opora.ops.collector import Collector
from opora.ops.metrics import Metrics, MetricsMiddleware
from opora.privacy import endpoints as privacy_endpoints
from opora.quality import endpoints as quality_endpoints
from opora.routing import endpoints as routing_endpoints
from opora.runtime import Runtime, build_runtime
from opora.shop import endpoints as shop_endpoints
from opora.sla import endpoints as sla_endpoints
from opora.startup import queue_start_work
from opora.surveys import endpoints as surveys_endpoints
from opora.surveys import public as surveys_public
from opora.tickets import endpoints as tickets_endpoints
from opora.web import setup as web
from opora.web.ui import incidents_pages, quality_pages, reports_pages

log = logging.getLogger(__name__)


def create_app(runtime: Runtime | None = None, *, run_worker: bool | None = None) -> FastAPI:
    """Build the app around a runtime.

    ``run_worker`` starts in-process job workers for the embedded shape; it defaults to the
    ``OPORA_EMBEDDED_WORKER`` setting. Tests pass their own runtime and usually no worker.
    """
    runtime = runtime or build_runtime()
    want_worker = runtime.settings.embedded_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # What start-up made (~350,000 tracked objects) lives as long as the process: frozen, no
        # collection walks it (ADR 40). Unless OPORA_GC_YOUNG_OBJECTS is 0, the collector then
        # keeps later collections to what is young, so that with thousands of chat sockets a
        # pause stays short (ADR 43).
        collector = Collector(
            young_objects=runtime.settings.gc_young_objects, growth=runtime.settings.gc_major_growth
        )
        collector.start()
        _app.state.collector = collector
        worker = None
        if want_worker:
            worker = Worker(runtime, concurrency=runtime.settings.worker_concurrency)
            await worker.start()
        await queue_start_work(runtime.db)
        services: list[ChannelService] = []
        try:
            # Channel packages' background services (a mail receiver, ...), whichever are configured.
            for factory in channels_registry.service_factories():
                service = factory(runtime)
                if service is not None:
                    await service.start()
                    services.append(service)
            yield
        finally:
            for service in reversed(services):
                await service.stop()
            if worker is not None:
                await worker.stop()
            await collector.stop()
            await runtime.close()

    app = FastAPI(
        title="Opora",
        version=__version__,
        description="Omnichannel customer-support desk: REST API v1.",
        lifespan=lifespan,
        docs_url=None,  # the bundled Swagger UI loads from a CDN; /openapi.json is the contract
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    _include_routers(app)
    web.mount(app)
    # Channel packages' own routes (widget socket, hosted forms, vendor handshakes), by registration.
    channels_registry.discover()
    for router in channels_registry.routers():
        app.include_router(router)
    app.add_middleware(UnitOfWorkMiddleware, database=runtime.db)
    # Added last, so outermost: the timing includes the commit and failed requests are counted.
    app.state.metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def _include_routers(app: FastAPI) -> None:
    # One line per feature module; each router carries its own prefix and tags.
    app.include_router(auth_endpoints.router)
    app.include_router(agents_endpoints.router)
    app.include_router(events_endpoints.router)
    app.include_router(ops_endpoints.router)
    app.include_router(customers_endpoints.router)
    app.include_router(channels_endpoints.router)
    app.include_router(tickets_endpoints.router)
    app.include_router(tickets_endpoints.attachments_router)
    app.include_router(inbox_endpoints.router)
    app.include_router(jobs_endpoints.router)
    app.include_router(automation_endpoints.router)
    app.include_router(canned_endpoints.router)
    app.include_router(notifications_endpoints.router)
    app.include_router(collision_endpoints.router)
    app.include_router(sla_endpoints.router)
    app.include_router(routing_endpoints.router)
    app.include_router(kb_endpoints.router)
    app.include_router(assist_endpoints.router)
    app.include_router(kb_endpoints.public_router)
    app.include_router(bot_endpoints.router)
    app.include_router(analytics_endpoints.router)
    app.include_router(shop_endpoints.router)
    app.include_router(privacy_endpoints.router)
    app.include_router(surveys_endpoints.router)
    app.include_router(surveys_public.router)
    app.include_router(quality_endpoints.router)
    app.include_router(incidents_endpoints.router)
    app.include_router(quality_pages.router)
    app.include_router(incidents_pages.router)
    app.include_router(reports_pages.router)
