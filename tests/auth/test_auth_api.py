import httpx
from sqlalchemy import func, select

from opora.auth.models import AgentSession, ApiToken
from opora.runtime import Runtime
from tests.support.factories import PASSWORD, Desk


async def test_login_sets_secure_session_and_me_works(client: httpx.AsyncClient, desk: Desk) -> None:
    r = await client.post("/api/v1/auth/login", json={"email": "OLGA@shop.test", "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "opora_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    me = await client.get("/api/v1/auth/me")
    assert me.json()["email"] == "olga@shop.test"
    assert me.json()["team_ids"] == [desk.support.id]


async def test_wrong_password_is_401_and_rate_limited(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    for _ in range(runtime.settings.login_max_failures):
        r = await client.post("/api/v1/auth/login", json={"email": "olga@shop.test", "password": "nope-nope"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthenticated"
    # Even the right password is refused while the limit holds.
    r = await client.post("/api/v1/auth/login", json={"email": "olga@shop.test", "password": PASSWORD})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    async with runtime.db.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(AgentSession)) == 0


async def test_session_writes_need_csrf_token(client: httpx.AsyncClient, desk: Desk) -> None:
    r = await client.post("/api/v1/auth/login", json={"email": "olga@shop.test", "password": PASSWORD})
    csrf = r.json()["csrf_token"]
    denied = await client.post("/api/v1/tokens", json={"name": "cli"})
    assert denied.status_code == 403
    assert denied.json()["error"]["reason"] == "csrf"
    ok = await client.post("/api/v1/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


async def test_token_shown_once_stored_hashed_and_revocable(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    r = await client.post("/api/v1/tokens", json={"name": "shop sync"}, headers=desk.olga_h)
    assert r.status_code == 201
    secret = r.json()["token"]
    async with runtime.db.uow() as uow:
        stored = (await uow.session.scalars(select(ApiToken.token_hash))).all()
    assert secret not in stored
    assert (
        await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 200
    listed = await client.get("/api/v1/tokens", headers=desk.olga_h)
    assert all("token" not in t for t in listed.json())
    revoked = await client.delete(f"/api/v1/tokens/{r.json()['id']}", headers=desk.olga_h)
    assert revoked.status_code == 200
    after = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert after.status_code == 401


async def test_bad_auth_headers(client: httpx.AsyncClient, desk: Desk) -> None:
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"})).status_code == 401
    assert (
        await client.get("/api/v1/auth/me", headers={"Authorization": "Bearer opr_fake"})
    ).status_code == 401


async def test_agent_cannot_create_tokens_for_others(client: httpx.AsyncClient, desk: Desk) -> None:
    r = await client.post(
        "/api/v1/tokens", json={"name": "x", "agent_id": desk.pavel.id}, headers=desk.olga_h
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/tokens", json={"name": "x", "agent_id": desk.pavel.id}, headers=desk.admin_h
    )
    assert r.status_code == 201
