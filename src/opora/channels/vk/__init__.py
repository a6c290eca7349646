"""VK community channel: Callback API events in, messages.send out (docs/channel-messengers.md)."""

from __future__ import annotations

from opora.channels import registry as _registry
from opora.channels.vk.adapter import VkAdapter
from opora.channels.vk.config import check_config as _check_config

_registry.register("vk", VkAdapter, check_config=_check_config)

__all__ = ["VkAdapter"]
