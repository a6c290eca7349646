"""/api/v1/customers.

Every authenticated agent may read customers: answering a ticket needs the customer's profile
whichever team owns it. Every agent who may write (not read-only) may create, edit and merge
them too; merging is not reserved to supervisors because the agent talking to a customer is the
one who notices the same person writing from two channels, and a merge leaves an event on every
moved ticket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from opora.auth.deps import CurrentPrincipal, Uow, Writer
from opora.customers import profile, segment_endpoints, segment_rules, service
from opora.customers.identity import MAX_VALUE_LENGTH
from opora.customers.models import IdentityKind
from opora.customers.schemas import (
    MAX_ID,
    CustomerCreate,
    CustomerOut,
    CustomerUpdate,
    DismissIn,
    IdentityIn,
    MergeIn,
    NoteIn,
    NoteOut,
    ProfileOut,
    SegmentChangeOut,
    SuggestionOut,
    TimelineOut,
    UnmergeIn,
)
from opora.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from opora.kit.schema import Page
from opora.privacy.access import log_access

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])
# First, so that /segment-rules is not read as a customer id.
router.include_router(segment_endpoints.router)

CustomerIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("")
async def list_customers(
    uow: Uow,
    _principal: CurrentPrincipal,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name or an identity")] = None,
    identity_kind: IdentityKind | None = None,
    identity_value: Annotated[str | None, Query(max_length=MAX_VALUE_LENGTH)] = None,
    updated_since: datetime | None = None,
    include_merged: bool = False,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[CustomerOut]:
    rows, next_cursor = await service.search(
        uow,
        q=q,
        identity_kind=identity_kind,
        identity_value=identity_value,
        updated_since=updated_since,
        include_merged=include_merged,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=await service.customer_out(uow, rows), next_cursor=next_cursor)


@router.post("", status_code=201)
async def create_customer(data: CustomerCreate, uow: Uow, writer: Writer) -> CustomerOut:
    customer = await service.create_customer(uow, data, actor=writer.actor)
    return (await service.customer_out(uow, [customer]))[0]


@router.get("/{customer_id}")
async def get_customer(customer_id: CustomerIdPath, uow: Uow, _principal: CurrentPrincipal) -> CustomerOut:
    """A merged customer is returned too, with ``merged_into_id`` telling where it went."""
    customer = await service.get_customer(uow, customer_id)
    return (await service.customer_out(uow, [customer]))[0]


@router.patch("/{customer_id}")
async def update_customer(
    customer_id: CustomerIdPath, data: CustomerUpdate, uow: Uow, writer: Writer
) -> CustomerOut:
    """A segment set here is manual: rules never change it; null hands it back to the rules."""
    customer = await service.update_customer(uow, customer_id, data, actor=writer.actor)
    return (await service.customer_out(uow, [customer]))[0]


@router.post("/{customer_id}/identities", status_code=201)
async def add_identity(
    customer_id: CustomerIdPath, data: IdentityIn, uow: Uow, _writer: Writer, response: Response
) -> CustomerOut:
    """201 with the customer when added; 200 if the customer already had this identity."""
    _identity, created = await service.add_identity(uow, customer_id, data.kind, data.value)
    if not created:
        response.status_code = 200
    customer = await service.get_customer(uow, customer_id)
    return (await service.customer_out(uow, [customer]))[0]


@router.delete("/{customer_id}/identities/{identity_id}")
async def remove_identity(
    customer_id: CustomerIdPath,
    identity_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    uow: Uow,
    _writer: Writer,
) -> CustomerOut:
    customer = await service.remove_identity(uow, customer_id, identity_id)
    return (await service.customer_out(uow, [customer]))[0]


@router.post("/{customer_id}/merge")
async def merge_customers(
    customer_id: CustomerIdPath, data: MergeIn, uow: Uow, writer: Writer
) -> CustomerOut:
    """Merge ``merged_customer_id`` into this customer; returns the surviving customer."""
    survivor = await service.merge(uow, customer_id, data.merged_customer_id, actor=writer.actor)
    return (await service.customer_out(uow, [survivor]))[0]


@router.post("/{customer_id}/unmerge")
async def unmerge_customers(
    customer_id: CustomerIdPath, data: UnmergeIn, uow: Uow, writer: Writer
) -> CustomerOut:
    """Undo the last merge of ``merged_customer_id`` into this customer; returns the restored customer."""
    restored = await service.unmerge(uow, customer_id, data.merged_customer_id, actor=writer.actor)
    return (await service.customer_out(uow, [restored]))[0]


@router.get("/{customer_id}/merge-suggestions")
async def merge_suggestions(
    customer_id: CustomerIdPath, uow: Uow, _principal: CurrentPrincipal
) -> list[SuggestionOut]:
    """Other customers who may be the same person, with the reasons; nothing is merged."""
    return await profile.suggestions(uow, customer_id)


@router.post("/{customer_id}/merge-suggestions/dismiss", status_code=204)
async def dismiss_suggestion(customer_id: CustomerIdPath, data: DismissIn, uow: Uow, writer: Writer) -> None:
    await profile.dismiss(uow, writer, customer_id, data.other_customer_id)


@router.get("/{customer_id}/profile")
async def get_profile(customer_id: CustomerIdPath, uow: Uow, principal: CurrentPrincipal) -> ProfileOut:
    """The customer with lifetime figures and notes; the view is written to the access log."""
    result = await profile.profile(uow, customer_id)
    await log_access(uow, agent_id=principal.agent_id, customer_id=result.customer.id, what="profile")
    return result


@router.get("/{customer_id}/timeline")
async def get_timeline(customer_id: CustomerIdPath, uow: Uow, principal: CurrentPrincipal) -> TimelineOut:
    result = await profile.timeline(uow, principal, customer_id)
    await log_access(uow, agent_id=principal.agent_id, customer_id=customer_id, what="timeline")
    return result


@router.post("/{customer_id}/notes", status_code=201)
async def add_note(customer_id: CustomerIdPath, data: NoteIn, uow: Uow, writer: Writer) -> NoteOut:
    return NoteOut.model_validate(await profile.add_note(uow, writer, customer_id, data.text))


@router.delete("/{customer_id}/notes/{note_id}", status_code=204)
async def delete_note(
    customer_id: CustomerIdPath, note_id: Annotated[int, Path(ge=1, le=MAX_ID)], uow: Uow, writer: Writer
) -> None:
    await profile.delete_note(uow, writer, customer_id, note_id)


@router.get("/{customer_id}/segment-history")
async def segment_history(
    customer_id: CustomerIdPath, uow: Uow, _principal: CurrentPrincipal
) -> list[SegmentChangeOut]:
    """Every change of the customer's segment, newest first (the last 100)."""
    return [SegmentChangeOut.model_validate(c) for c in await segment_rules.history(uow, customer_id)]
