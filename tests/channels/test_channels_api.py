from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opora.channels import registry, service
from opora.channels.base import (
    ChannelAdapter,
    ChannelConfig,
    DeliveryResult,
    InboundMessage,
    OutboundMessage,
    WebhookRequest,
)
from opora.channels.models import Channel
from opora.customers.models import Customer, CustomerIdentity, IdentityKind
from opora.kit.crypto import SecretBox
from opora.runtime import Runtime
from tests.support.factories import Desk

URL = "/api/v1/channels"
TOKEN = "123456:AAE-very-secret-bot-token"


class FakeAdapter:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config

    def verify(self, request: WebhookRequest) -> None:
        return None

    def parse(self, payload: bytes, content_type: str) -> list[InboundMessage]:
        return [
            InboundMessage(external_id="1", sender_kind=IdentityKind.TELEGRAM, sender_value="7", text="hi")
        ]

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        return DeliveryResult.sent("p-1")


def check_fake(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    if "bot_token" not in secrets:
        raise ValueError("the bot_token secret is required")


@pytest.fixture
def fake_type() -> Iterator[str]:
    registry.register("fakechat", FakeAdapter, check_config=check_fake)
    yield "fakechat"
    registry.unregister("fakechat")


async def snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    async with runtime.db.uow() as uow:
        channels = (await uow.session.scalars(select(Channel).order_by(Channel.id))).all()
        return {
            "channels": [
                (c.id, c.type, c.name, c.settings, c.secrets_encrypted, c.is_active, c.updated_at)
                for c in channels
            ],
            "customers": [(c.id,) for c in (await uow.session.scalars(select(Customer))).all()],
            "identities": [(i.id,) for i in (await uow.session.scalars(select(CustomerIdentity))).all()],
        }


async def create(client: httpx.AsyncClient, desk: Desk, **body: Any) -> dict[str, Any]:
    r = await client.post(URL, json=body, headers=desk.admin_h)
    assert r.status_code == 201, r.text
    assert TOKEN not in r.text
    result: dict[str, Any] = r.json()
    return result


def test_registry_knows_api_and_refuses_unknown_types(fake_type: str) -> None:
    assert "api" in registry.known_types()
    assert fake_type in registry.known_types()
    assert registry.get("api") is None
    assert registry.get(fake_type) is FakeAdapter
    with pytest.raises(registry.UnknownChannelType):
        registry.get("carrier-pigeon")
    registry.register(fake_type, FakeAdapter)  # a re-import registers the same factory again
    with pytest.raises(ValueError, match="already registered"):
        registry.register(fake_type, lambda config: FakeAdapter(config))
    with pytest.raises(ValueError, match="built in"):
        registry.unregister("api")


def test_adapter_contract_values() -> None:
    assert isinstance(FakeAdapter(ChannelConfig(1, "x", "x", {})), ChannelAdapter)
    assert DeliveryResult.failed("timeout", retriable=True).retriable
    with pytest.raises(ValueError, match="error message"):
        DeliveryResult(ok=False)
    with pytest.raises(ValueError, match="nothing to retry"):
        DeliveryResult(ok=True, retriable=True)
    config = ChannelConfig(1, "fakechat", "Bot", {"a": 1}, {"bot_token": TOKEN})
    assert TOKEN not in repr(config)
    request = WebhookRequest("POST", "/hook", {"x-signature": "s"}, b"{}")
    assert request.header("X-Signature") == "s"


async def test_create_seals_secrets_and_never_returns_them(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, fake_type: str
) -> None:
    made = await create(
        client,
        desk,
        type=fake_type,
        name="Shop bot",
        settings={"greeting": "Здравствуйте!", "poll": False},
        secrets={"bot_token": TOKEN, "webhook_key": "hook-secret-42"},
    )
    assert made["secret_keys"] == ["bot_token", "webhook_key"]
    assert made["settings"] == {"greeting": "Здравствуйте!", "poll": False}
    assert (made["type"], made["is_active"], made["secrets_error"]) == (fake_type, True, None)
    assert "secrets" not in made

    async with runtime.db.uow() as uow:
        channel = await uow.session.get(Channel, made["id"])
        assert channel is not None
        assert TOKEN not in channel.secrets_encrypted
        assert "hook-secret-42" not in channel.secrets_encrypted
        assert TOKEN not in str(channel.settings)
        assert service.channel_secrets(runtime, channel) == {
            "bot_token": TOKEN,
            "webhook_key": "hook-secret-42",
        }
        adapter = service.adapter_for(runtime, channel)
    assert isinstance(adapter, FakeAdapter)
    assert adapter.config.secrets["bot_token"] == TOKEN
    assert adapter.config.settings["greeting"] == "Здравствуйте!"

    for path in (URL, f"{URL}/{made['id']}"):
        r = await client.get(path, headers=desk.admin_h)
        assert r.status_code == 200
        assert TOKEN not in r.text
        assert "hook-secret-42" not in r.text


async def test_api_type_needs_no_adapter(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    made = await create(client, desk, type="api", name="Shop backend")
    assert made["secret_keys"] == []
    async with runtime.db.uow() as uow:
        channel = await uow.session.get(Channel, made["id"])
        assert channel is not None
        assert service.adapter_for(runtime, channel) is None
        assert service.channel_secrets(runtime, channel) == {}
    types = await client.get(f"{URL}/types", headers=desk.admin_h)
    assert "api" in types.json()["types"]


async def test_update_merges_settings_and_secrets(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, fake_type: str
) -> None:
    made = await create(
        client,
        desk,
        type=fake_type,
        name="Bot",
        settings={"a": 1, "b": 2},
        secrets={"bot_token": TOKEN, "old": "o"},
    )
    r = await client.patch(
        f"{URL}/{made['id']}",
        json={"name": "Bot 2", "settings": {"b": None, "c": [1, 2]}, "secrets": {"old": None, "extra": "e"}},
        headers=desk.admin_h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["settings"], body["secret_keys"]) == (
        "Bot 2",
        {"a": 1, "c": [1, 2]},
        ["bot_token", "extra"],
    )
    async with runtime.db.uow() as uow:
        channel = await uow.session.get(Channel, made["id"])
        assert channel is not None
        assert service.channel_secrets(runtime, channel) == {"bot_token": TOKEN, "extra": "e"}

    off = await client.post(f"{URL}/{made['id']}/deactivate", headers=desk.admin_h)
    assert (off.status_code, off.json()["is_active"]) == (200, False)
    assert (await client.post(f"{URL}/{made['id']}/deactivate", headers=desk.admin_h)).status_code == 200
    listed = await client.get(URL, params={"active": "false"}, headers=desk.admin_h)
    assert [c["id"] for c in listed.json()["items"]] == [made["id"]]
    assert (await client.get(URL, params={"active": "true"}, headers=desk.admin_h)).json()["items"] == []
    on = await client.patch(f"{URL}/{made['id']}", json={"is_active": True}, headers=desk.admin_h)
    assert on.json()["is_active"] is True


async def test_changed_secret_key_is_reported_not_crashed(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, fake_type: str
) -> None:
    made = await create(client, desk, type=fake_type, name="Bot", secrets={"bot_token": TOKEN})
    runtime.secrets = SecretBox("a-different-key")
    r = await client.get(f"{URL}/{made['id']}", headers=desk.admin_h)
    assert r.status_code == 200
    assert r.json()["secret_keys"] == []
    assert "OPORA_SECRET_KEY" in r.json()["secrets_error"]
    fixed = await client.patch(
        f"{URL}/{made['id']}", json={"secrets": {"bot_token": "new"}}, headers=desk.admin_h
    )
    assert (fixed.status_code, fixed.json()["secret_keys"], fixed.json()["secrets_error"]) == (
        200,
        ["bot_token"],
        None,
    )


async def test_pagination_and_type_filter(client: httpx.AsyncClient, desk: Desk, fake_type: str) -> None:
    made = [await create(client, desk, type="api", name=f"API {n}") for n in range(3)]
    bot = await create(client, desk, type=fake_type, name="Bot", secrets={"bot_token": TOKEN})
    first = (await client.get(URL, params={"limit": 2}, headers=desk.admin_h)).json()
    second = (
        await client.get(URL, params={"limit": 2, "cursor": first["next_cursor"]}, headers=desk.admin_h)
    ).json()
    assert [c["id"] for c in first["items"] + second["items"]] == [c["id"] for c in [*made, bot]]
    assert second["next_cursor"] is None
    only = (await client.get(URL, params={"type": fake_type}, headers=desk.admin_h)).json()
    assert [c["id"] for c in only["items"]] == [bot["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "carrier_pigeon", "name": "X"}, "type"),
        ({"type": "Bad Type!", "name": "X"}, "type"),
        ({"type": "fakechat", "name": "X", "secrets": {"bot_token": TOKEN}, "colour": "red"}, "colour"),
        ({"type": "fakechat", "name": "x" * 201, "secrets": {"bot_token": TOKEN}}, "name"),
        ({"type": "fakechat", "name": "", "secrets": {"bot_token": TOKEN}}, "name"),
        ({"type": "fakechat", "name": ["X"], "secrets": {"bot_token": TOKEN}}, "name"),
        ({"type": "fakechat", "name": "X", "settings": [], "secrets": {"bot_token": TOKEN}}, "settings"),
        ({"type": "fakechat", "name": "X", "secrets": {"bot_token": 5}}, "secrets.bot_token"),
        ({"type": "fakechat", "name": "X", "secrets": {"bot_token": ""}}, "secrets.bot_token"),
        (
            {"type": "fakechat", "name": "X", "settings": {"password": "p"}, "secrets": {"bot_token": TOKEN}},
            "settings.password",
        ),
        (
            {
                "type": "fakechat",
                "name": "X",
                "settings": {"big": "x" * 20_000},
                "secrets": {"bot_token": TOKEN},
            },
            "settings",
        ),
        ({"type": "fakechat", "name": "X"}, "settings"),  # the channel's own check: no bot_token
        ({"name": "X"}, "type"),
    ],
)
async def test_create_refuses_bad_input_and_changes_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, fake_type: str, body: dict[str, Any], field: str
) -> None:
    before = await snapshot(runtime)
    r = await client.post(URL, json=body, headers=desk.admin_h)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    fields = [f["field"] for f in err.get("fields", [])] + [err.get("field")]
    assert any(f is not None and f.startswith(field) for f in fields), err
    assert TOKEN not in r.text  # not even echoed back in a validation error
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "api"}, "type"),
        ({"name": None}, "name"),
        ({"is_active": None}, "is_active"),
        ({"is_active": "maybe"}, "is_active"),
        ({"settings": {"api_key": "k"}}, "settings.api_key"),
        ({"secrets": {"bot_token": None}}, "settings"),  # removing the required secret
        ({"secrets": {"bad key": "v"}}, "secrets"),
    ],
)
async def test_update_refuses_bad_input_and_changes_nothing(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime, fake_type: str, body: dict[str, Any], field: str
) -> None:
    made = await create(client, desk, type=fake_type, name="Bot", secrets={"bot_token": TOKEN})
    before = await snapshot(runtime)
    r = await client.patch(f"{URL}/{made['id']}", json=body, headers=desk.admin_h)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    fields = [f["field"] for f in err.get("fields", [])] + [err.get("field")]
    assert any(f is not None and f.startswith(field) for f in fields), err
    assert await snapshot(runtime) == before


async def test_only_admins_touch_channels(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    made = await create(client, desk, type="api", name="Shop backend")
    before = await snapshot(runtime)
    for headers in (desk.supervisor_h, desk.olga_h, desk.reader_h):
        calls = [
            client.get(URL, headers=headers),
            client.get(f"{URL}/types", headers=headers),
            client.get(f"{URL}/{made['id']}", headers=headers),
            client.post(URL, json={"type": "api", "name": "X"}, headers=headers),
            client.patch(f"{URL}/{made['id']}", json={"name": "X"}, headers=headers),
            client.post(f"{URL}/{made['id']}/deactivate", headers=headers),
        ]
        for call in calls:
            r = await call
            assert r.status_code == 403, r.text
    assert (await client.get(URL)).status_code == 401
    assert await snapshot(runtime) == before


async def test_unknown_channel_is_404(client: httpx.AsyncClient, desk: Desk, runtime: Runtime) -> None:
    before = await snapshot(runtime)
    assert (await client.get(f"{URL}/999999", headers=desk.admin_h)).status_code == 404
    assert (await client.patch(f"{URL}/999999", json={"name": "X"}, headers=desk.admin_h)).status_code == 404
    assert (await client.post(f"{URL}/999999/deactivate", headers=desk.admin_h)).status_code == 404
    assert (await client.get(f"{URL}/{2**64}", headers=desk.admin_h)).status_code == 422
    assert (await client.get(URL, params={"cursor": "zzz"}, headers=desk.admin_h)).status_code == 422
    assert await snapshot(runtime) == before
