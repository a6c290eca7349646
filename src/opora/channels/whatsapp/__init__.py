"""WhatsApp Cloud API channel: Meta's signed webhook in, Graph API messages out (docs/channel-messengers.md)."""

from __future__ import annotations

# Registered on import, which the channel registry's discovery does; the tasks module registers
# the media download job and its inbox hook, the reactions module the 24-hour window check.
from opora.channels import registry as _registry
from opora.channels.whatsapp import reactions as _reactions  # noqa: F401
from opora.channels.whatsapp import tasks as _tasks  # noqa: F401
from opora.channels.whatsapp.adapter import WhatsAppAdapter
from opora.channels.whatsapp.config import check_config as _check_config

_registry.register("whatsapp", WhatsAppAdapter, check_config=_check_config)

__all__ = ["WhatsAppAdapter"]
