"""Imports every model module so that ``Base.metadata`` is complete (Alembic, tests)."""

from opora.agents import models as agents
from opora.auth import models as auth
from opora.channels import models as channels
from opora.customers import models as customers
from opora.events import models as events
from opora.inbox import models as inbox
from opora.jobs import models as jobs
from opora.tickets import models as tickets

__all__ = ["agents", "auth", "channels", "customers", "events", "inbox", "jobs", "tickets"]
