"""setWebhook / deleteWebhook / getWebhookInfo for a channel, as the CLI runs them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from opora.channels.telegram import webhook
from opora.channels.telegram.__main__ import app
from opora.kit.errors import InvalidInput
from opora.runtime import Runtime
from tests.channels.telegram.support import SECRET, fake_api, telegram_channel


async def test_set_webhook_sends_the_inbound_url_and_the_secret(runtime: Runtime) -> None:
    async with fake_api() as fake:
        channel = await telegram_channel(runtime, fake)
        url = await webhook.set_webhook(runtime, channel.id, url="https://desk.example/api/v1/inbound/7")
        await webhook.delete_webhook(runtime, channel.id)
        info = await webhook.webhook_info(runtime, channel.id)
        [call] = fake.calls_of("setWebhook")
    assert url == "https://desk.example/api/v1/inbound/7"
    assert call.params == {
        "url": url,
        "secret_token": SECRET,
        "allowed_updates": ["message", "edited_message", "callback_query"],
    }
    assert fake.calls_of("deleteWebhook")[0].params == {"drop_pending_updates": False}
    assert info["pending_update_count"] == 0


async def test_the_default_url_is_the_desks_inbound_endpoint(runtime: Runtime) -> None:
    assert webhook.webhook_url(runtime, 3).endswith("/api/v1/inbound/3")
    async with fake_api() as fake:
        channel = await telegram_channel(runtime, fake)
        runtime.settings.base_url = "https://support.shop.example/"
        await webhook.set_webhook(runtime, channel.id)
        [call] = fake.calls_of("setWebhook")
    assert call.params["url"] == f"https://support.shop.example/api/v1/inbound/{channel.id}"


async def test_plain_http_and_other_channel_types_are_refused(runtime: Runtime) -> None:
    async with fake_api() as fake:
        channel = await telegram_channel(runtime, fake)
        with pytest.raises(InvalidInput, match="HTTPS"):
            await webhook.set_webhook(runtime, channel.id, url="http://desk.local/api/v1/inbound/1")
        assert fake.calls == []


def test_the_cli_names_its_commands() -> None:
    result = CliRunner().invoke(app, ["webhook", "--help"])
    assert result.exit_code == 0
    assert all(word in result.output for word in ("set", "delete", "info"))
