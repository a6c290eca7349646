"""Known channel types. Channel packages register themselves; the core never imports one by name.

A channel package (``opora.channels.telegram``, or a third-party distribution) calls
``register("telegram", TelegramAdapter, check_config=...)`` when imported. :func:`discover`
imports every subpackage of ``opora.channels`` and every ``opora.channels`` entry point once,
on first use of the registry, so adding a package is all it takes to add a channel.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.metadata import entry_points

from fastapi import APIRouter

from opora.channels.base import AdapterFactory, ConfigCheck, ServiceFactory

log = logging.getLogger(__name__)

# Tickets created through the REST API: no adapter, nothing to receive or send.
API = "api"
ENTRY_POINT_GROUP = "opora.channels"


class UnknownChannelType(LookupError):
    pass


@dataclass(frozen=True)
class ChannelType:
    name: str
    factory: AdapterFactory | None
    check_config: ConfigCheck | None = None
    # The reply reaches the customer through the live push that follows its commit (the chat
    # widget's socket, or its history on reconnect); the adapter's send has nothing to do, so
    # the reply is recorded as sent in its own transaction instead of by a delivery job.
    delivered_on_commit: bool = False


_types: dict[str, ChannelType] = {API: ChannelType(API, None)}
_discovered = False


def register(
    type_name: str,
    adapter_factory: AdapterFactory,
    *,
    check_config: ConfigCheck | None = None,
    delivered_on_commit: bool = False,
) -> None:
    """Make a channel type known. Registering the same factory again is harmless (re-import)."""
    current = _types.get(type_name)
    if current is not None and current.factory is not adapter_factory:
        raise ValueError(f"channel type {type_name!r} is already registered by another adapter")
    _types[type_name] = ChannelType(type_name, adapter_factory, check_config, delivered_on_commit)


def delivered_on_commit(type_name: str) -> bool:
    """Whether replies on this channel type count as sent once committed (``ChannelType``)."""
    try:
        return get_type(type_name).delivered_on_commit
    except UnknownChannelType:
        return False


_services: dict[str, ServiceFactory] = {}


def register_service(name: str, factory: ServiceFactory) -> None:
    """A background service the serving process starts and stops with the app (e.g. a mail
    receiver). The factory sees the runtime and returns None when the settings leave it off."""
    _services[name] = factory


_routers: dict[str, APIRouter] = {}


def register_router(name: str, router: APIRouter) -> None:
    """HTTP routes of a channel package (a widget socket, a hosted form, a vendor handshake).

    The app includes every registered router after :func:`discover`, so the core names none of
    the packages; registering under the same name again replaces the router (re-import).
    """
    _routers[name] = router


def routers() -> list[APIRouter]:
    return list(_routers.values())


def service_factories() -> list[ServiceFactory]:
    discover()
    return [_services[name] for name in sorted(_services)]


def unregister(type_name: str) -> None:
    """For tests that register a fake type."""
    if type_name == API:
        raise ValueError("the api channel type is built in")
    _types.pop(type_name, None)


def get(type_name: str) -> AdapterFactory | None:
    """The adapter factory of a type; None for "api", which needs no adapter."""
    return get_type(type_name).factory


def get_type(type_name: str) -> ChannelType:
    discover()
    try:
        return _types[type_name]
    except KeyError:
        raise UnknownChannelType(type_name) from None


def known_types() -> list[str]:
    discover()
    return sorted(_types)


def discover() -> None:
    """Import the channel packages once. A broken package is logged and skipped, so one bad
    channel does not take the whole desk down."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("opora.channels")
    for module in pkgutil.iter_modules(package.__path__, prefix="opora.channels."):
        if module.ispkg:
            _load(module.name, partial(importlib.import_module, module.name))
    for point in entry_points(group=ENTRY_POINT_GROUP):
        _load(point.name, point.load)


def _load(name: str, load: Callable[[], object]) -> None:
    try:
        load()
    except Exception:
        log.exception("channel package %s failed to load; its channel type is unavailable", name)
