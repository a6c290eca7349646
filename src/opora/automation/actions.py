"""What a rule can do, as a registry of action kinds: parameters, how to apply, how to preview.

Each kind is a pydantic parameter model (unknown keys refused), an ``apply`` coroutine that makes
the change through the tickets service, and a pure ``describe`` for the dry run. Other modules add
kinds with :func:`register_action` from their own ``reactions`` module, which every process imports
at start-up; routing registers ``escalate`` this way (see docs/automation.md), so this module never
imports it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from opora.agents.models import Role
from opora.auth.permissions import Principal
from opora.automation.conditions import TicketView
from opora.db import UnitOfWork
from opora.events import service as events
from opora.events.models import TicketEvent
from opora.events.reactions import Fact
from opora.events.service import Actor
from opora.kit import placeholders
from opora.kit.errors import AppError
from opora.kit.schema import Input
from opora.tickets import lifecycle
from opora.tickets import service as tickets_service
from opora.tickets.lifecycle import Status
from opora.tickets.models import AuthorType, Priority, Ticket
from opora.tickets.schemas import MessageIn, Tag, TicketUpdate, Topic

MAX_ACTIONS = 20
RULE_ACTOR = "rule"


class ActionError(ValueError):
    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


# -- who acts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RulePrincipal(Principal):
    """A rule acting on tickets: sees and may change every ticket, records events as the rule.

    It has no agent behind it, hence ``agent_id`` is None: messages it writes have no agent author.
    """

    rule_id: int = 0

    @property
    def actor(self) -> Actor:
        return Actor(RULE_ACTOR, self.rule_id)


def rule_principal(rule_id: int) -> RulePrincipal:
    return RulePrincipal(
        agent_id=cast(int, None), role=Role.ADMIN, team_ids=frozenset(), via="rule", rule_id=rule_id
    )


@contextmanager
def attributed_to(session: AsyncSession, rule_id: int) -> Iterator[None]:
    """Stamp ``rule_id`` into the data of every ticket event recorded inside the block.

    The tickets service builds event data itself; this puts the cause next to the change without
    teaching every use case about rules. The stamp lands on the dict the reactions see too, which
    is how a rule recognises events it caused itself.
    """

    def stamp(_session: Any, instance: object) -> None:
        if isinstance(instance, TicketEvent):
            instance.data["rule_id"] = rule_id
            if instance.kind == "message_added":
                instance.data["author_type"] = AuthorType.SYSTEM

    target = session.sync_session
    sa_event.listen(target, "transient_to_pending", stamp)
    try:
        yield
    finally:
        sa_event.remove(target, "transient_to_pending", stamp)


# -- registry -----------------------------------------------------------------------------------


@dataclass
class ActionContext:
    uow: UnitOfWork
    principal: RulePrincipal
    ticket: Ticket
    tags: set[str]
    fact: Fact
    rule_id: int
    rule_name: str
    # Values for {{placeholders}} in texts, and the language to answer in.
    values: Mapping[str, str | None]
    language: str


Outcome = dict[str, Any]
Apply = Callable[[ActionContext, Any], Awaitable[Outcome]]
Describe = Callable[[Any, TicketView, Mapping[str, str | None], str], Outcome]


@dataclass(frozen=True)
class ActionKind:
    name: str
    params: type[BaseModel]
    apply: Apply
    describe: Describe


_KINDS: dict[str, ActionKind] = {}


def register_action(type_: str, *, params: type[BaseModel], apply: Apply, describe: Describe) -> None:
    """The extension point for actions owned by other modules (``escalate`` from routing)."""
    _KINDS[type_] = ActionKind(type_, params, apply, describe)


def kinds() -> list[str]:
    return sorted(_KINDS)


def kind(type_: str) -> ActionKind | None:
    return _KINDS.get(type_)


def validate(raw: Any, path: str = "actions") -> list[dict[str, Any]]:
    """Normalised actions, or :class:`ActionError` naming the bad part (``actions[1].status``)."""
    if not isinstance(raw, list) or not raw:
        raise ActionError("a rule needs a list of at least one action", path)
    if len(raw) > MAX_ACTIONS:
        raise ActionError(f"at most {MAX_ACTIONS} actions", path)
    result = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise ActionError("an action is an object with a 'type'", where)
        spec = _KINDS.get(str(item.get("type")))
        if spec is None:
            raise ActionError(
                f"unknown action type {item.get('type')!r}; known: {', '.join(kinds())}", f"{where}.type"
            )
        try:
            params = spec.params.model_validate({k: v for k, v in item.items() if k != "type"})
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            raise ActionError(first.get("msg", "invalid"), f"{where}.{loc}" if loc else where) from exc
        result.append({"type": spec.name, **params.model_dump(mode="json", exclude_none=False)})
    return result


def parse(action: Mapping[str, Any]) -> tuple[ActionKind, BaseModel] | None:
    spec = _KINDS.get(str(action.get("type", "")))
    if spec is None:
        return None  # a kind whose module is gone: the rule's run records it as skipped
    return spec, spec.params.model_validate({k: v for k, v in action.items() if k != "type"})


def outcome(type_: str, result: str, **detail: Any) -> Outcome:
    return {"type": type_, "outcome": result, **detail}


def pick_language(variants: Mapping[str, str | None], preferred: str) -> tuple[str, str]:
    if variants.get(preferred):
        return preferred, variants[preferred] or ""
    for language in ("ru", "en"):
        if variants.get(language):
            return language, variants[language] or ""
    return preferred, ""


# -- parameter models ---------------------------------------------------------------------------


class Localized(Input):
    """A text in Russian and/or English; the customer's language picks one."""

    ru: str | None = Field(default=None, min_length=1, max_length=10_000)
    en: str | None = Field(default=None, min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _one_at_least(self) -> Localized:
        if not self.ru and not self.en:
            raise ValueError("give the text in 'ru', 'en' or both")
        for text in (self.ru, self.en):
            unknown = placeholders.unknown_in(text or "")
            if unknown:
                raise ValueError(f"unknown variable {{{{{unknown[0]}}}}}")
        return self


class SetStatus(Input):
    status: Literal["open", "pending", "on_hold", "solved", "closed"]


class SetPriority(Input):
    priority: Priority


class SetTopic(Input):
    topic: Topic | None


class SetTeam(Input):
    team_id: int | None = Field(ge=1)


class SetAssignee(Input):
    assignee_id: int | None = Field(ge=1)


class Tags(Input):
    tags: list[Tag] = Field(min_length=1, max_length=50)


class AddNote(Input):
    text: str = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _known(self) -> AddNote:
        unknown = placeholders.unknown_in(self.text)
        if unknown:
            raise ValueError(f"unknown variable {{{{{unknown[0]}}}}}")
        return self


class SendReply(Input):
    text: Localized


class NotifyAgents(Input):
    agent_ids: list[int] = Field(default_factory=list, max_length=50)
    assignee: bool = False
    text: Localized | None = None

    @model_validator(mode="after")
    def _someone(self) -> NotifyAgents:
        if not self.agent_ids and not self.assignee:
            raise ValueError("name agent_ids or set assignee to true")
        return self


class CallWebhook(Input):
    webhook_id: int = Field(ge=1)


# -- the built-in kinds -------------------------------------------------------------------------


async def _update(ctx: ActionContext, type_: str, key: str, new: Any) -> Outcome:
    old = getattr(ctx.ticket, key)
    if old == new:
        return outcome(type_, "unchanged")
    try:
        await tickets_service.update_ticket(
            ctx.uow, ctx.principal, ctx.ticket.id, TicketUpdate.model_validate({key: new})
        )
    except AppError as exc:
        return outcome(type_, "skipped", reason=exc.message)
    return outcome(type_, "applied", **{key: {"old": old, "new": new}})


def _describe_field(key: str) -> Describe:
    def describe(params: Any, view: TicketView, _values: Mapping[str, str | None], _lang: str) -> Outcome:
        old, new = getattr(view, key), getattr(params, key)
        type_ = f"set_{key.removesuffix('_id')}"
        if old == new:
            return outcome(type_, "unchanged")
        return outcome(type_, "would_apply", **{key: {"old": old, "new": new}})

    return describe


async def _set_status(ctx: ActionContext, params: SetStatus) -> Outcome:
    current, target = Status(ctx.ticket.status), Status(params.status)
    if current == target:
        return outcome("set_status", "unchanged")
    if ctx.ticket.merged_into_id is not None or target not in lifecycle.ALLOWED[current]:
        return outcome("set_status", "skipped", reason=f"a ticket cannot go from '{current}' to '{target}'")
    return await _update(ctx, "set_status", "status", target.value)


def _describe_status(params: SetStatus, view: TicketView, _v: Mapping[str, str | None], _l: str) -> Outcome:
    current, target = Status(view.status), Status(params.status)
    if current == target:
        return outcome("set_status", "unchanged")
    if target not in lifecycle.ALLOWED[current]:
        return outcome("set_status", "skipped", reason=f"a ticket cannot go from '{current}' to '{target}'")
    return outcome("set_status", "would_apply", status={"old": current.value, "new": target.value})


async def _set_priority(ctx: ActionContext, params: SetPriority) -> Outcome:
    return await _update(ctx, "set_priority", "priority", params.priority.value)


async def _set_topic(ctx: ActionContext, params: SetTopic) -> Outcome:
    return await _update(ctx, "set_topic", "topic", params.topic)


async def _set_team(ctx: ActionContext, params: SetTeam) -> Outcome:
    return await _update(ctx, "set_team", "team_id", params.team_id)


async def _set_assignee(ctx: ActionContext, params: SetAssignee) -> Outcome:
    return await _update(ctx, "set_assignee", "assignee_id", params.assignee_id)


def _new_tags(type_: str, tags: set[str], given: list[str]) -> set[str]:
    return tags | set(given) if type_ == "add_tags" else tags - set(given)


def _tag_action(type_: str) -> tuple[Apply, Describe]:
    async def apply(ctx: ActionContext, params: Tags) -> Outcome:
        new = _new_tags(type_, ctx.tags, params.tags)
        if new == ctx.tags:
            return outcome(type_, "unchanged")
        return await _update_tags(ctx, type_, new)

    def describe(params: Tags, view: TicketView, _v: Mapping[str, str | None], _l: str) -> Outcome:
        new = _new_tags(type_, set(view.tags), params.tags)
        if new == view.tags:
            return outcome(type_, "unchanged")
        return outcome(type_, "would_apply", tags={"old": sorted(view.tags), "new": sorted(new)})

    return apply, describe


async def _update_tags(ctx: ActionContext, type_: str, new: set[str]) -> Outcome:
    old = sorted(ctx.tags)
    try:
        await tickets_service.update_ticket(
            ctx.uow, ctx.principal, ctx.ticket.id, TicketUpdate(tags=sorted(new))
        )
    except AppError as exc:
        return outcome(type_, "skipped", reason=exc.message)
    ctx.tags.clear()
    ctx.tags.update(new)
    return outcome(type_, "applied", tags={"old": old, "new": sorted(new)})


async def _post(ctx: ActionContext, type_: str, text: str, *, internal: bool) -> Outcome:
    if not text.strip():
        return outcome(type_, "skipped", reason="the text is empty after filling in variables")
    first_response_at = ctx.ticket.first_response_at
    try:
        message = await tickets_service.add_message(
            ctx.uow, ctx.principal, ctx.ticket.id, MessageIn(text=text, internal=internal), ticket=ctx.ticket
        )
    except AppError as exc:
        return outcome(type_, "skipped", reason=exc.message)
    # A rule's message is the desk speaking, not an agent: it does not count as a first response.
    message.author_type = AuthorType.SYSTEM
    ctx.ticket.first_response_at = first_response_at
    return outcome(type_, "applied", message_id=message.id)


async def _add_note(ctx: ActionContext, params: AddNote) -> Outcome:
    return await _post(ctx, "add_note", placeholders.render(params.text, ctx.values), internal=True)


def _describe_note(params: AddNote, _view: TicketView, values: Mapping[str, str | None], _l: str) -> Outcome:
    return outcome("add_note", "would_apply", text=placeholders.render(params.text, values))


async def _send_reply(ctx: ActionContext, params: SendReply) -> Outcome:
    if Status(ctx.ticket.status) == Status.CLOSED:
        return outcome("send_reply", "skipped", reason="the ticket is closed")
    language, template = pick_language(params.text.model_dump(), ctx.language)
    result = await _post(ctx, "send_reply", placeholders.render(template, ctx.values), internal=False)
    return {**result, "language": language}


def _describe_reply(
    params: SendReply, view: TicketView, values: Mapping[str, str | None], lang: str
) -> Outcome:
    if view.status == Status.CLOSED:
        return outcome("send_reply", "skipped", reason="the ticket is closed")
    language, template = pick_language(params.text.model_dump(), lang)
    return outcome("send_reply", "would_apply", language=language, text=placeholders.render(template, values))


def _recipients(params: NotifyAgents, assignee_id: int | None) -> list[int]:
    ids = list(params.agent_ids)
    if params.assignee and assignee_id is not None:
        ids.append(assignee_id)
    return sorted(set(ids))


async def _notify(ctx: ActionContext, params: NotifyAgents) -> Outcome:
    agent_ids = _recipients(params, ctx.ticket.assignee_id)
    if not agent_ids:
        return outcome("notify_agents", "skipped", reason="nobody to notify: the ticket has no assignee")
    text = None
    if params.text is not None:
        text = {k: placeholders.render(v, ctx.values) for k, v in params.text.model_dump().items() if v}
    await events.record(
        ctx.uow,
        ticket_id=ctx.ticket.id,
        kind="rule_notification",
        actor=ctx.principal.actor,
        data={"rule_id": ctx.rule_id, "rule_name": ctx.rule_name, "agent_ids": agent_ids, "text": text},
        team_id=ctx.ticket.team_id,
        assignee_id=ctx.ticket.assignee_id,
    )
    return outcome("notify_agents", "applied", agent_ids=agent_ids)


def _describe_notify(
    params: NotifyAgents, view: TicketView, _v: Mapping[str, str | None], _l: str
) -> Outcome:
    agent_ids = _recipients(params, view.assignee_id)
    if not agent_ids:
        return outcome("notify_agents", "skipped", reason="nobody to notify: the ticket has no assignee")
    return outcome("notify_agents", "would_apply", agent_ids=agent_ids)


# The webhook kind is registered by automation.webhooks, which owns deliveries.

register_action("set_status", params=SetStatus, apply=_set_status, describe=_describe_status)
register_action("set_priority", params=SetPriority, apply=_set_priority, describe=_describe_field("priority"))
register_action("set_topic", params=SetTopic, apply=_set_topic, describe=_describe_field("topic"))
register_action("set_team", params=SetTeam, apply=_set_team, describe=_describe_field("team_id"))
register_action(
    "set_assignee", params=SetAssignee, apply=_set_assignee, describe=_describe_field("assignee_id")
)
for _type in ("add_tags", "remove_tags"):
    _apply, _describe = _tag_action(_type)
    register_action(_type, params=Tags, apply=_apply, describe=_describe)
register_action("add_note", params=AddNote, apply=_add_note, describe=_describe_note)
register_action("send_reply", params=SendReply, apply=_send_reply, describe=_describe_reply)
register_action("notify_agents", params=NotifyAgents, apply=_notify, describe=_describe_notify)
