"""/api/v1/sla: policies, calendars and settings (admins write), a ticket's clocks (agents read)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from opora.auth.deps import Admin, CurrentPrincipal, Uow
from opora.sla import repository, service
from opora.sla.schemas import (
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    ClockOut,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
    SettingsOut,
    SettingsUpdate,
)

router = APIRouter(prefix="/api/v1/sla", tags=["sla"])


@router.get("/policies")
async def list_policies(uow: Uow, _principal: CurrentPrincipal) -> list[PolicyOut]:
    return [service.policy_out(p) for p in await repository.list_policies(uow.session)]


@router.post("/policies", status_code=201)
async def create_policy(data: PolicyCreate, uow: Uow, _admin: Admin) -> PolicyOut:
    return service.policy_out(await service.create_policy(uow, data))


@router.get("/policies/{policy_id}")
async def get_policy(policy_id: int, uow: Uow, _principal: CurrentPrincipal) -> PolicyOut:
    return service.policy_out(await service.get_policy(uow, policy_id))


@router.patch("/policies/{policy_id}")
async def update_policy(policy_id: int, data: PolicyUpdate, uow: Uow, _admin: Admin) -> PolicyOut:
    return service.policy_out(await service.update_policy(uow, policy_id, data))


@router.delete("/policies/{policy_id}", status_code=204)
async def delete_policy(policy_id: int, uow: Uow, _admin: Admin) -> Response:
    await service.delete_policy(uow, policy_id)
    return Response(status_code=204)


@router.get("/calendars")
async def list_calendars(uow: Uow, _principal: CurrentPrincipal) -> list[CalendarOut]:
    return await service.calendar_out(uow, await repository.list_calendars(uow.session))


@router.post("/calendars", status_code=201)
async def create_calendar(data: CalendarCreate, uow: Uow, _admin: Admin) -> CalendarOut:
    return (await service.calendar_out(uow, [await service.create_calendar(uow, data)]))[0]


@router.get("/calendars/{calendar_id}")
async def get_calendar(calendar_id: int, uow: Uow, _principal: CurrentPrincipal) -> CalendarOut:
    return (await service.calendar_out(uow, [await service.get_calendar(uow, calendar_id)]))[0]


@router.patch("/calendars/{calendar_id}")
async def update_calendar(calendar_id: int, data: CalendarUpdate, uow: Uow, _admin: Admin) -> CalendarOut:
    return (await service.calendar_out(uow, [await service.update_calendar(uow, calendar_id, data)]))[0]


@router.get("/settings")
async def get_settings(uow: Uow, _admin: Admin) -> SettingsOut:
    return service.settings_out(await service.settings_row(uow))


@router.patch("/settings")
async def update_settings(data: SettingsUpdate, uow: Uow, _admin: Admin) -> SettingsOut:
    return service.settings_out(await service.update_settings(uow, data))


@router.get("/tickets/{ticket_id}")
async def ticket_clocks(ticket_id: int, uow: Uow, principal: CurrentPrincipal) -> list[ClockOut]:
    return await service.ticket_clocks(uow, principal, ticket_id)
