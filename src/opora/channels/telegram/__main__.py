"""``python -m opora.channels.telegram webhook set|delete|info CHANNEL_ID``: set up a bot's webhook."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from opora.channels.telegram import webhook
from opora.runtime import Runtime, build_runtime

app = typer.Typer(help="Telegram channel tools.", no_args_is_help=True, add_completion=False)
webhook_app = typer.Typer(help="The bot's webhook.", no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")


def _run(action: Callable[[Runtime], Awaitable[Any]]) -> None:
    async def go() -> Any:
        runtime = build_runtime()
        try:
            return await action(runtime)
        finally:
            await runtime.close()

    try:
        result = asyncio.run(go())
    except Exception as exc:  # a shell user wants the reason, not a traceback
        typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(result)


@webhook_app.command("set")
def set_(
    channel_id: int,
    url: Annotated[str | None, typer.Option(help="Default: OPORA_BASE_URL/api/v1/inbound/<id>.")] = None,
) -> None:
    """Make Telegram deliver the bot's updates to Opora, with the channel's secret token."""

    async def action(runtime: Runtime) -> str:
        return "Webhook set: " + await webhook.set_webhook(runtime, channel_id, url=url)

    _run(action)


@webhook_app.command("delete")
def delete(channel_id: int) -> None:
    """Stop webhook delivery (needed before long polling; the poller also does it itself)."""

    async def action(runtime: Runtime) -> str:
        await webhook.delete_webhook(runtime, channel_id)
        return "Webhook deleted."

    _run(action)


@webhook_app.command("info")
def info(channel_id: int) -> None:
    """What Telegram knows: the URL, pending updates, the last delivery error."""

    async def action(runtime: Runtime) -> str:
        return json.dumps(await webhook.webhook_info(runtime, channel_id), ensure_ascii=False, indent=2)

    _run(action)


if __name__ == "__main__":
    app()
