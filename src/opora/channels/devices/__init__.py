"""Device / IoT channel: authenticated device events, per-channel rules, proactive tickets that
tell the customer before they write."""

from __future__ import annotations

from opora.channels import registry as _registry
from opora.channels.devices import tasks as _tasks  # noqa: F401  (registers the processing job)
from opora.channels.devices.adapter import TYPE, DeviceAdapter, check_config

_registry.register(TYPE, DeviceAdapter, check_config=check_config)

# Imported last: the routes import this package's modules.
from opora.channels.devices import endpoints as _endpoints  # noqa: E402

_registry.register_router(TYPE, _endpoints.router)

__all__ = ["TYPE", "DeviceAdapter", "check_config"]
