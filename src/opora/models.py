"""Imports every model module so that ``Base.metadata`` is complete (Alembic, tests)."""

from opora.agents import models as agents
from opora.analytics import models as analytics
from opora.assist import models as assist
from opora.auth import models as auth
from opora.automation import models as automation
from opora.bot import models as bot
from opora.canned import models as canned
from opora.channels import models as channels
from opora.channels.devices import models as devices
from opora.channels.webchat import models as webchat
from opora.channels.webform import models as webform
from opora.customers import models as customers
from opora.events import models as events
from opora.inbox import models as inbox
from opora.incidents import models as incidents
from opora.jobs import models as jobs
from opora.kb import models as kb
from opora.notifications import models as notifications
from opora.portal import models as portal
from opora.privacy import models as privacy
from opora.quality import models as quality
from opora.routing import models as routing
from opora.shop import models as shop
from opora.sla import models as sla
from opora.surveys import models as surveys
from opora.tickets import models as tickets

__all__ = [
    "agents",
    "analytics",
    "assist",
    "auth",
    "automation",
    "bot",
    "canned",
    "channels",
    "customers",
    "devices",
    "events",
    "inbox",
    "incidents",
    "jobs",
    "kb",
    "notifications",
    "portal",
    "privacy",
    "quality",
    "routing",
    "shop",
    "sla",
    "surveys",
    "tickets",
    "webchat",
    "webform",
]
