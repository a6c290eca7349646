import httpx

from opora.runtime import Runtime
from tests.support.factories import Desk
from tests.support.snapshot import snapshot

ME = "/api/v1/auth/me"


async def test_agents_set_their_own_language_and_time_zone(client: httpx.AsyncClient, desk: Desk) -> None:
    r = await client.patch(ME, json={"language": "en"}, headers=desk.olga_h)
    assert r.status_code == 200, r.text
    assert (r.json()["language"], r.json()["timezone"]) == ("en", "Europe/Moscow")
    r = await client.patch(ME, json={"timezone": "Asia/Yekaterinburg"}, headers=desk.olga_h)
    assert (r.json()["language"], r.json()["timezone"]) == ("en", "Asia/Yekaterinburg")
    assert (await client.get(ME, headers=desk.olga_h)).json()["language"] == "en"
    # Read-only accounts have preferences too.
    r = await client.patch(ME, json={"language": "en"}, headers=desk.reader_h)
    assert r.status_code == 200 and r.json()["language"] == "en"


async def test_bad_preferences_are_refused(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    before = await snapshot(runtime)
    for body in (
        {"language": "de"},
        {"timezone": "Mars/Olympus"},
        {"language": None},
        {"role": "admin"},
        {"name": "Olga II"},
    ):
        r = await client.patch(ME, json=body, headers=desk.olga_h)
        assert r.status_code == 422, body
    assert (await client.patch(ME, json={"language": "en"})).status_code == 401
    assert await snapshot(runtime) == before
