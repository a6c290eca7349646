"""Web chat widget channel: an embeddable script, a WebSocket per visitor, the inbox behind it.

Registered on import (the channel registry's discovery imports every channel package): the
channel type, and the inbox hook that tells visitors' sockets their message is stored.
"""

from __future__ import annotations

from opora.channels import registry as _registry
from opora.channels.webchat.adapter import WebchatAdapter, check_config
from opora.channels.webchat.service import on_ingested as _on_ingested
from opora.inbox import service as _inbox

_registry.register("webchat", WebchatAdapter, check_config=check_config)
if _on_ingested not in _inbox.inbound_hooks:
    _inbox.inbound_hooks.append(_on_ingested)

# Imported last: the routes import this package's modules.
from opora.channels.webchat import endpoints as _endpoints  # noqa: E402

_registry.register_router("webchat", _endpoints.router)

__all__ = ["WebchatAdapter", "check_config"]
