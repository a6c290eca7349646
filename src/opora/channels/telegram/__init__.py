"""Telegram channel: Bot API webhook or long polling in, text and files out (plain HTTP, no SDK).

Registered on import, which the channel registry's discovery does: the channel type, the long
polling service, the file-fetching job and the inbound hook that queues it.
"""

from __future__ import annotations

from opora.channels import registry as _registry
from opora.channels.telegram import buttons as _buttons
from opora.channels.telegram import files as _files
from opora.channels.telegram.adapter import TelegramAdapter
from opora.channels.telegram.config import check_config as _check_config
from opora.channels.telegram.polling import poller_from_settings as _poller
from opora.inbox import service as _inbox

_registry.register("telegram", TelegramAdapter, check_config=_check_config)
_registry.register_service("telegram.polling", _poller)
for _hook in (_files.on_inbound, _buttons.on_inbound):
    if _hook not in _inbox.inbound_hooks:
        _inbox.inbound_hooks.append(_hook)

__all__ = ["TelegramAdapter"]
