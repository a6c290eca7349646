"""A form gives an e-mail and a phone; the inbox files the customer under the first. The second
is added to the same customer when nobody owns it yet, so a later call from that phone finds them.
A phone that already belongs to another customer is left alone: merging is an agent's decision."""

from __future__ import annotations

from opora.channels.webform import repository
from opora.customers import identity
from opora.db import UnitOfWork
from opora.inbox.batch import Ingested
from opora.kit.errors import InvalidInput
from opora.kit.time import utcnow
from opora.runtime import Runtime


async def after_ingest(uow: UnitOfWork, _runtime: Runtime, ingested: list[Ingested]) -> None:
    for item in ingested:
        if item.inbound.metadata.get("kind") != "webform":
            continue
        for pair in item.inbound.metadata.get("other_identities") or []:
            try:
                kind, value = identity.normalize(str(pair[0]), str(pair[1]), field="")
            except (InvalidInput, IndexError):
                continue
            if await repository.identity_owner(uow.session, str(kind), value) is None:
                await repository.add_identity(uow.session, item.customer_id, str(kind), value, utcnow())
