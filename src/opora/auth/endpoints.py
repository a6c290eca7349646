"""/api/v1/auth (sessions) and /api/v1/tokens (API tokens)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from opora.agents import service as agents_service
from opora.agents.schemas import AgentOut, AgentUpdate
from opora.auth import repository, service
from opora.auth.deps import SESSION_COOKIE, CurrentPrincipal, RuntimeDep, Uow, Writer
from opora.auth.schemas import LoginIn, LoginOut, PreferencesIn, TokenCreate, TokenIssued, TokenOut

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/login")
async def login(data: LoginIn, request: Request, response: Response, runtime: RuntimeDep) -> LoginOut:
    settings = runtime.settings
    client_ip = request.client.host if request.client else "unknown"
    opened = await service.login(
        runtime.db, settings, email=data.email, password=data.password, client_ip=client_ip
    )
    response.set_cookie(
        SESSION_COOKIE,
        opened.cookie_value,
        max_age=settings.session_days * 86400,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    async with runtime.db.uow() as uow:
        agent = (await agents_service.agent_out(uow, [opened.agent]))[0]
    return LoginOut(agent=agent, csrf_token=opened.csrf_token)


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, response: Response, uow: Uow, _principal: CurrentPrincipal) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await service.logout(uow, cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/auth/me")
async def me(uow: Uow, principal: CurrentPrincipal) -> AgentOut:
    return (await agents_service.agent_out(uow, [await agents_service.get_agent(uow, principal.agent_id)]))[0]


@router.patch("/auth/me")
async def update_me(data: PreferencesIn, uow: Uow, principal: CurrentPrincipal) -> AgentOut:
    """Change the caller's own language (``ru``/``en``) or time zone; read-only accounts too."""
    changes = AgentUpdate.model_validate(data.model_dump(exclude_unset=True))
    agent = await agents_service.update_agent(uow, principal, principal.agent_id, changes)
    return (await agents_service.agent_out(uow, [agent]))[0]


@router.get("/tokens")
async def list_tokens(uow: Uow, principal: CurrentPrincipal) -> list[TokenOut]:
    owner = None if principal.is_admin else principal.agent_id
    return [TokenOut.model_validate(t) for t in await repository.list_tokens(uow.session, agent_id=owner)]


@router.post("/tokens", status_code=201)
async def create_token(data: TokenCreate, uow: Uow, principal: Writer) -> TokenIssued:
    issued = await service.create_token(uow, principal, name=data.name, agent_id=data.agent_id)
    return TokenIssued.model_validate(
        {**TokenOut.model_validate(issued.token).model_dump(), "token": issued.secret}
    )


@router.delete("/tokens/{token_id}")
async def revoke_token(token_id: int, uow: Uow, principal: CurrentPrincipal) -> TokenOut:
    return TokenOut.model_validate(await service.revoke_token(uow, principal, token_id))
