"""Telephony channel: call events from a PBX (a generic JSON shape, or Zadarma's webhooks)
become messages of kind "call"; a missed call becomes a high-priority call-back ticket."""

from __future__ import annotations

from opora.channels import registry as _registry
from opora.channels.telephony import hooks as _hooks
from opora.channels.telephony.adapter import TelephonyAdapter, check_config
from opora.inbox import service as _inbox

TYPE = "telephony"

_registry.register(TYPE, TelephonyAdapter, check_config=check_config)
if _hooks.after_ingest not in _inbox.inbound_hooks:
    _inbox.inbound_hooks.append(_hooks.after_ingest)

__all__ = ["TYPE", "TelephonyAdapter", "check_config"]
