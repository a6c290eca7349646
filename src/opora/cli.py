"""The ``opora`` command line."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer
import uvicorn

from opora import __version__
from opora.agents import repository as agents_repo
from opora.agents import service as agents_service
from opora.agents.models import Role
from opora.agents.schemas import AgentCreate
from opora.analytics import facts, rollups
from opora.app import create_app
from opora.auth import service as auth_service
from opora.config import Settings
from opora.demo import load_demo
from opora.jobs.worker import run_worker_forever
from opora.migrate import upgrade
from opora.ops.check import run_checks
from opora.runtime import build_runtime
from opora.startup import queue_start_work

app = typer.Typer(help="Opora: the omnichannel support desk.", no_args_is_help=True, add_completion=False)
user_app = typer.Typer(help="Manage agents.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
facts_app = typer.Typer(help="The ticket facts that reports read.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(facts_app, name="facts")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = Settings()
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url)
    typer.echo("Database is up to date.")


# uvicorn's sans-I/O WebSocket protocol, not its default (the legacy `websockets` one): a closed
# chat socket of the legacy protocol stays in a reference cycle holding ~100 KB, which the
# collector policy of ADR 43 (on by default) would keep frozen until a major, so memory grew under
# connection churn; with this one it levelled off, and each open socket holds fewer objects.
WEBSOCKET_IMPLEMENTATION = "websockets-sansio"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (OPORA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (OPORA_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="HTTP processes.")] = 1,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not run jobs in this process.")] = False,
) -> None:
    """Serve the web app and API. Runs the job worker in-process unless told not to."""
    _logging()
    settings = Settings()
    settings.ensure_data_dir()
    if settings.is_sqlite:
        # The embedded shape needs no separate step: bring the file database up to date here.
        upgrade(settings.resolved_database_url)
    if no_worker:
        settings.embedded_worker = False
    if workers > 1:
        uvicorn.run(
            "opora.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            proxy_headers=True,
            timeout_graceful_shutdown=10,
            ws=WEBSOCKET_IMPLEMENTATION,
        )
        return
    uvicorn.run(
        create_app(build_runtime(settings)),
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        ws=WEBSOCKET_IMPLEMENTATION,
    )


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (OPORA_WORKER_CONCURRENCY).")
    ] = None,
) -> None:
    """Run job workers only (the scaled shape: start as many as you need)."""
    _logging()
    settings = Settings()
    runtime = build_runtime(settings)

    async def _work() -> None:
        await queue_start_work(runtime.db)  # as `opora serve` does
        await run_worker_forever(runtime, concurrency or settings.worker_concurrency)

    asyncio.run(_work())


@app.command()
def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if the desk already has agents.")
    ] = False,
) -> None:
    """Load a demo shop (agents in two teams, customers, tickets in Russian and English) and print a login."""
    settings = Settings()
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url)
    text = asyncio.run(load_demo(build_runtime(settings), if_empty=if_empty))
    typer.echo(text)


@user_app.command("create")
def user_create(
    email: str,
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[Role, typer.Option(help="admin, supervisor, agent or readonly.")] = Role.AGENT,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
    language: Annotated[str, typer.Option(help="ru or en.")] = "ru",
) -> None:
    """Create an agent who can log in."""

    async def _create() -> str:
        runtime = build_runtime()
        try:
            async with runtime.db.uow() as uow:
                agent = await agents_service.create_agent(
                    uow, AgentCreate(email=email, name=name, role=role, password=password, language=language)
                )
            return f"Created {agent.role} {agent.email} (id {agent.id})."
        finally:
            await runtime.close()

    _run_or_exit(_create())


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Argument(help="The agent the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
) -> None:
    """Create an API token for an agent and print it once."""

    async def _create() -> str:
        runtime = build_runtime()
        try:
            async with runtime.db.uow() as uow:
                agent = await agents_repo.get_agent_by_email(uow.session, email)
                if agent is None:
                    raise typer.BadParameter(f"no agent with e-mail {email}")
                issued = await auth_service.issue_token(uow, agent_id=agent.id, name=name)
            return f"{issued.secret}\n(store it now: only its hash is kept)"
        finally:
            await runtime.close()

    _run_or_exit(_create())


@app.command()
def check() -> None:
    """Report the configuration and whether the database, migrations and Redis are reachable."""
    report, ok = asyncio.run(run_checks(Settings()))
    typer.echo(report)
    raise typer.Exit(0 if ok else 1)


def _walk_facts(*, repair: bool, check: bool, size: int) -> str:
    async def _walk() -> str:
        runtime = build_runtime()
        after, tickets, wrong = 0, 0, 0
        try:
            while True:
                async with runtime.db.uow() as uow:
                    if check:
                        done = await facts.check_batch(uow.session, after=after, size=size, repair=repair)
                    else:
                        done = await facts.backfill_batch(uow.session, after=after, size=size)
                if done.last_id is None:
                    break
                after, tickets, wrong = done.last_id, tickets + done.tickets, wrong + len(done.wrong)
                if done.wrong:
                    typer.echo(f"differ: {', '.join(map(str, done.wrong))}", err=True)
            if repair and wrong:
                # Facts that drifted outside the desk's transactions left their hourly counts
                # behind: recount those from the repaired facts.
                async with runtime.db.uow() as uow:
                    await rollups.rebuild(uow.session)
        finally:
            await runtime.close()
        if not check:
            return f"Facts recomputed for {tickets} tickets."
        fixed = " (recomputed)" if repair and wrong else ""
        if wrong and not repair:
            raise typer.Exit(1)
        return f"Checked {tickets} tickets: {wrong} differ from their events{fixed}."

    return asyncio.run(_walk())


@facts_app.command("check")
def facts_check(
    repair: Annotated[bool, typer.Option("--repair", help="Recompute the tickets that differ.")] = False,
    batch: Annotated[int, typer.Option(min=1, max=10000, help="Tickets per transaction.")] = 1000,
) -> None:
    """Compare every ticket's stored facts with its events; exit 1 when some differ (unless --repair)."""
    typer.echo(_walk_facts(repair=repair, check=True, size=batch))


@facts_app.command("backfill")
def facts_backfill(
    batch: Annotated[int, typer.Option(min=1, max=10000, help="Tickets per transaction.")] = 1000,
) -> None:
    """Recompute every ticket's facts from its events, batch by batch (what the backfill job does)."""
    typer.echo(_walk_facts(repair=False, check=False, size=batch))


@facts_app.command("hours")
def facts_hours(
    check: Annotated[
        bool,
        typer.Option("--check", help="Only compare the stored counts with the facts; exit 1 if they differ."),
    ] = False,
) -> None:
    """Rebuild the hourly counts that count and rate reports read from the facts (what the job of
    migration 0022 does), or check them."""

    async def _run() -> str:
        runtime = build_runtime()
        try:
            async with runtime.db.uow() as uow:
                if not check:
                    return f"Hourly counts rebuilt: {await rollups.rebuild(uow.session)} rows."
                have = await rollups.stored_rows(uow.session)
                want = await rollups.recounted_rows(uow.session)
        finally:
            await runtime.close()
        wrong = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        for key in wrong[:20]:
            typer.echo(f"differ: {key[0]} {key[1]}={key[3]!r} at {key[2].isoformat()}", err=True)
        if wrong:
            typer.echo(f"{len(wrong)} of {len(want)} hourly counts differ from the facts.", err=True)
            raise typer.Exit(1)
        return f"All {len(want)} hourly counts agree with the facts."

    typer.echo(asyncio.run(_run()))


def _run_or_exit(coro: object) -> None:
    try:
        typer.echo(asyncio.run(coro))  # type: ignore[arg-type]
    except typer.BadParameter:
        raise
    except Exception as exc:  # a CLI user wants the reason, not a traceback
        typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        raise typer.Exit(1) from exc


def main() -> None:
    app()


if __name__ == "__main__":
    main()
