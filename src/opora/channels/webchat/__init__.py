"""Web chat widget channel: an embeddable script, a WebSocket per visitor, the inbox behind it.

Registered on import (the channel registry's discovery imports every channel package): the
channel type, the inbox hook that tells visitors' sockets their message is stored, and the
replies by e-mail to visitors who left (the reaction, its job, the reference resolver that
threads the visitor's mailed answer, and the hook that links the proven address).
"""

from __future__ import annotations

from opora.channels import registry as _registry
from opora.channels.webchat import mail as _mail
from opora.channels.webchat import reactions as _reactions  # noqa: F401
from opora.channels.webchat import tasks as _tasks  # noqa: F401
from opora.channels.webchat.adapter import WebchatAdapter, check_config
from opora.channels.webchat.messages import on_ingested as _on_ingested
from opora.inbox import batch as _batch
from opora.inbox import service as _inbox

# A reply is on the visitor's screen by the hub's push after its commit, or in the history the
# widget refetches on reconnect (ADR 0034); no delivery job (ADR 0036).
_registry.register("webchat", WebchatAdapter, check_config=check_config, delivered_on_commit=True)
if _on_ingested not in _inbox.inbound_hooks:
    _inbox.inbound_hooks.append(_on_ingested)
if _mail.link_replies not in _inbox.inbound_hooks:
    _inbox.inbound_hooks.append(_mail.link_replies)
if _mail.tickets_by_mail_id not in _batch.reference_resolvers:
    _batch.reference_resolvers.append(_mail.tickets_by_mail_id)

# Imported last: the routes import this package's modules.
from opora.channels.webchat import endpoints as _endpoints  # noqa: E402

_registry.register_router("webchat", _endpoints.router)

__all__ = ["WebchatAdapter", "check_config"]
