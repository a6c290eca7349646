"""Web-form channel: a hosted contact form and a POST endpoint for shops' own forms, with spam
protection and attachments; submissions go through the inbox like any channel's messages."""

from __future__ import annotations

from opora.channels import registry as _registry
from opora.channels.webform import hooks as _hooks
from opora.channels.webform.adapter import WebformAdapter
from opora.channels.webform.config import check_config
from opora.channels.webform.service import TYPE
from opora.inbox import service as _inbox

_registry.register(TYPE, WebformAdapter, check_config=check_config)
if _hooks.after_ingest not in _inbox.inbound_hooks:
    _inbox.inbound_hooks.append(_hooks.after_ingest)

# Imported last: the routes import this package's modules.
from opora.channels.webform import endpoints as _endpoints  # noqa: E402

_registry.register_router(TYPE, _endpoints.router)

__all__ = ["TYPE", "WebformAdapter", "check_config"]
