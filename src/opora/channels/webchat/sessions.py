"""Widget sessions: the channel a page's key names, the visitor's token and signed identity,
what the widget may show, and whether agents answer now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opora.channels import service as channels_service
from opora.channels.models import Channel
from opora.channels.webchat import history, identity, repository
from opora.channels.webchat.adapter import DEFAULT_UPLOAD_BYTES, DEFAULT_UPLOAD_TYPES
from opora.channels.webchat.models import WebchatVisitor
from opora.channels.webchat.schemas import SessionIn, SessionOut
from opora.customers import identity as ident
from opora.customers import repository as customers_repo
from opora.customers import service as customers_service
from opora.db import UnitOfWork
from opora.kit.crypto import new_token, sha256_hex
from opora.kit.errors import InvalidInput, NotFound, Unauthenticated
from opora.kit.time import utcnow
from opora.runtime import Runtime
from opora.sla import service as sla_service

LANGUAGES = ("ru", "en")


@dataclass(frozen=True)
class VisitorRef:
    """What a socket keeps between transactions: no ORM row outlives its unit of work."""

    id: int
    key: str
    token_hash: str
    channel_id: int


async def channel_by_key(uow: UnitOfWork, public_key: str) -> Channel:
    for channel in await repository.active_channels(uow.session):
        if channel.settings.get("public_key") == public_key:
            return channel
    raise NotFound("No active chat channel has this key.")


def language_of(requested: str | None, channel: Channel) -> str:
    code = (requested or "").split("-")[0].strip().lower()
    if code in LANGUAGES:
        return code
    default = channel.settings.get("language")
    return default if default in LANGUAGES else "ru"


def _localised(value: Any, language: str) -> str | None:
    if isinstance(value, dict):
        text = value.get(language) or next((v for v in value.values() if v), None)
        return text if isinstance(text, str) else None
    return None


def public_settings(channel: Channel, language: str) -> dict[str, Any]:
    """What the widget may show; never a secret (this goes to any page that asks)."""
    s = channel.settings
    return {
        "name": channel.name,
        "title": _localised(s.get("title"), language),
        "greeting": _localised(s.get("greeting"), language),
        "color": s.get("color") or "#1f6feb",
        "text_color": s.get("text_color") or "#ffffff",
        "upload_max_bytes": s.get("upload_max_bytes") or DEFAULT_UPLOAD_BYTES,
        "upload_types": list(s.get("upload_types") or DEFAULT_UPLOAD_TYPES),
    }


def origin_allowed(channel: Channel, origin: str | None) -> bool:
    allowed = channel.settings.get("allowed_origins")
    if not allowed:
        return True
    return origin is not None and origin.rstrip("/") in {o.rstrip("/") for o in allowed}


async def visitor_for(uow: UnitOfWork, channel: Channel, token: str, *, lock: bool = False) -> WebchatVisitor:
    visitor = await repository.visitor_by_token(
        uow.session, sha256_hex(token), lock=lock and not uow.is_sqlite
    )
    if visitor is None or visitor.channel_id != channel.id:
        raise Unauthenticated("Unknown visitor token; open a new session.")
    return visitor


def ref_of(visitor: WebchatVisitor) -> VisitorRef:
    return VisitorRef(visitor.id, visitor.key, visitor.token_hash, visitor.channel_id)


async def open_session(uow: UnitOfWork, runtime: Runtime, channel: Channel, data: SessionIn) -> SessionOut:
    """The visitor's token (a new one for a new browser), the channel's look, whether agents
    answer now, and the history. A signed identity links the visitor to the shop's customer."""
    visitor = None
    token = data.token
    if token:
        found = await repository.visitor_by_token(uow.session, sha256_hex(token))
        visitor = found if found is not None and found.channel_id == channel.id else None
    if visitor is None or token is None:
        token = new_token(24)
        visitor = await repository.insert_visitor(
            uow.session,
            WebchatVisitor(
                channel_id=channel.id,
                key="v" + new_token(16),
                token_hash=sha256_hex(token),
                wants_human=False,
            ),
        )
    language = language_of(data.language, channel)
    visitor.language = language
    visitor.last_seen_at = utcnow()
    state = "none"
    if data.identity is not None:
        claim = identity.Claim(**data.identity.model_dump())
        state = "verified" if await _link_signed(uow, runtime, channel, visitor, claim) else "ignored"
    return SessionOut(
        token=token,
        visitor=visitor.key,
        language=language,
        identity=state,
        offline=await offline_reason(uow, channel),
        email=visitor.email,
        settings=public_settings(channel, language),
        messages=await history.history(uow, channel, visitor.key, after_id=data.after_id),
    )


def _identity_secret(runtime: Runtime, channel: Channel) -> str | None:
    try:
        secret = channels_service.channel_secrets(runtime, channel).get("identity_secret")
    except ValueError:
        return None
    return secret if isinstance(secret, str) else None


async def _link_signed(
    uow: UnitOfWork, runtime: Runtime, channel: Channel, visitor: WebchatVisitor, claim: identity.Claim
) -> bool:
    """Merge the visitor's customer into the shop's customer it proved to be. False: ignored."""
    if not identity.verify(_identity_secret(runtime, channel), claim):
        return False
    wanted: list[tuple[str, str]] = []
    try:
        if claim.email.strip():
            wanted.append(ident.normalize("email", claim.email, field="identity"))
        if claim.id.strip():
            wanted.append(ident.normalize("shop", claim.id, field="identity"))
    except InvalidInput:
        return False
    survivor = await customers_service.find_or_create_by_identity(
        uow, "webchat", visitor.key, name=claim.name or None, language=visitor.language
    )
    for kind, value in wanted:
        found = await customers_repo.find_identity(uow.session, kind, value)
        if found is None:
            continue
        owner = await customers_service.resolve_customer(uow, found.customer_id)
        if owner.id != survivor.id:
            # The shop's record survives: its profile and history are the older, trusted ones.
            survivor = await customers_service.merge(uow, owner.id, survivor.id)
    for kind, value in wanted:
        await customers_service.add_identity(uow, survivor.id, kind, value)
    if claim.name.strip() and not survivor.name:
        survivor.name = claim.name.strip()[:200]
    visitor.signed_as = (wanted[0][1])[:320]
    return True


async def offline_reason(uow: UnitOfWork, channel: Channel) -> str | None:
    """None while agents answer live; "closed" outside the team calendar's hours; "no_agents"
    when nobody of the team is online (unless the channel's ``offline_when_no_agents`` is off)."""
    team_id = _team_of(channel)
    if team_id is not None:
        calendar_id = await repository.team_calendar_id(uow.session, team_id)
        if calendar_id is not None:
            calendars = await sla_service.load_calendars(uow.session, [calendar_id])
            if not sla_service.calendar_or_24_7(calendars, calendar_id).is_open(utcnow()):
                return "closed"
    no_agents_means_offline = channel.settings.get("offline_when_no_agents", True)
    if no_agents_means_offline and await repository.online_agents(uow.session, team_id) == 0:
        return "no_agents"
    return None


def _team_of(channel: Channel) -> int | None:
    team = channel.settings.get("team_id")
    return team if isinstance(team, int) and not isinstance(team, bool) else None
