"""Viber bot channel: signed callbacks in, send_message out (docs/channel-messengers.md)."""

from __future__ import annotations

from opora.channels import registry as _registry
from opora.channels.viber.adapter import ViberAdapter
from opora.channels.viber.config import check_config as _check_config

_registry.register("viber", ViberAdapter, check_config=_check_config)

__all__ = ["ViberAdapter"]
