"""The `opora` command line, run as a user runs it: a real process on a fresh data dir."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from opora.app import create_app
from opora.config import Settings
from opora.runtime import build_runtime


def opora(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPORA_")}
    env["OPORA_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "opora.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
async def test_demo_then_api_scopes_tokens(tmp_path: Path) -> None:
    done = opora(tmp_path, "demo")
    assert done.returncode == 0, done.stderr
    lines = dict(line.strip().split(": ", 1) for line in done.stdout.splitlines() if "API token: " in line)
    admin_token, agent_token = lines["admin API token"], lines["agent API token"]
    again = opora(tmp_path, "demo", "--if-empty")
    assert again.returncode == 0 and "already loaded" in again.stdout

    runtime = build_runtime(Settings(data_dir=tmp_path, _env_file=None))  # type: ignore[call-arg]
    app = create_app(runtime, run_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        admin = (
            await client.get("/api/v1/tickets?limit=100", headers={"Authorization": f"Bearer {admin_token}"})
        ).json()
        agent = (
            await client.get("/api/v1/tickets?limit=100", headers={"Authorization": f"Bearer {agent_token}"})
        ).json()
        me = (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {agent_token}"})).json()
    await runtime.close()
    assert len(admin["items"]) == 14
    assert 0 < len(agent["items"]) < 14
    assert {t["team_id"] for t in agent["items"]} <= set(me["team_ids"]) | {None}
    languages = {t["language"] for t in admin["items"]}
    assert {"ru", "en"} <= languages
    assert len({t["channel_type"] for t in admin["items"]}) >= 6


@pytest.mark.slow
def test_user_token_and_check_commands(tmp_path: Path) -> None:
    assert opora(tmp_path, "migrate").returncode == 0
    made = opora(
        tmp_path,
        "user",
        "create",
        "boss@shop.example",
        "--name",
        "Boss",
        "--role",
        "admin",
        "--password",
        "long enough secret",
    )
    assert made.returncode == 0 and "Created admin boss@shop.example" in made.stdout, made.stderr
    dup = opora(
        tmp_path, "user", "create", "boss@shop.example", "--name", "Boss", "--password", "long enough secret"
    )
    assert dup.returncode == 1 and "already exists" in dup.stderr
    short = opora(tmp_path, "user", "create", "x@shop.example", "--name", "X", "--password", "short")
    assert short.returncode == 1
    token = opora(tmp_path, "token", "create", "boss@shop.example")
    assert token.returncode == 0 and token.stdout.startswith("opr_")
    missing = opora(tmp_path, "token", "create", "nobody@shop.example")
    assert missing.returncode != 0
    check = opora(tmp_path, "check")
    assert check.returncode == 0 and "all checks passed" in check.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_selects_the_sans_io_websocket_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    # The collector policy that is on by default (ADR 43) kept memory bounded under chat socket
    # churn only with this protocol; uvicorn's own default would let it ratchet.
    import uvicorn
    from typer.testing import CliRunner

    from opora import cli

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    monkeypatch.setenv("OPORA_DATA_DIR", str(tmp_path))
    done = CliRunner().invoke(cli.app, ["serve", "--workers", workers])
    assert done.exit_code == 0, done.output
    assert [call["ws"] for call in calls] == ["websockets-sansio"]
    assert Settings(_env_file=None).gc_young_objects > 0  # type: ignore[call-arg]
