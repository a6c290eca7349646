"""Viber bot channel: signed callbacks in, send_message out (docs/channel-messengers.md)."""

from __future__ import annotations

# Registered on import: the channel type, the media download job with its inbox hook, and the
# route where Viber fetches the files of agents' replies.
from opora.channels import registry as _registry
from opora.channels.viber import files as _files
from opora.channels.viber import media as _media  # noqa: F401
from opora.channels.viber.adapter import ViberAdapter
from opora.channels.viber.config import check_config as _check_config

_registry.register("viber", ViberAdapter, check_config=_check_config)
_registry.register_router("viber", _files.router)

__all__ = ["ViberAdapter"]
