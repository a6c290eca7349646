"""The reports area in a real browser: the dashboard, a report's chart, drill-down, CSV export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opora.kit.time import utcnow
from opora.runtime import Runtime
from tests.analytics.scenario import Scenario
from tests.support.factories import Desk, session_for

pytestmark = pytest.mark.slow


async def test_dashboard_drill_down_and_csv_export(
    browser: Any, server_url: str, desk: Desk, runtime: Runtime, artifacts: Path
) -> None:
    s = Scenario(runtime)
    now = utcnow()
    today = [
        await s.ticket(now, channel="api", team_id=desk.support.id, subject="Оплата не прошла"),
        await s.ticket(now, channel="api", team_id=desk.billing.id, subject="Где заказ?"),
    ]
    cookie, _csrf = await session_for(runtime, desk.supervisor)
    context = await browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    await context.add_cookies([{"name": "opora_session", "value": cookie, "url": server_url}])
    page = await context.new_page()
    await page.goto(f"{server_url}/reports")
    figure = page.locator('[data-figure="created-today"] strong')
    assert (await figure.inner_text()).strip() == "2"
    await page.screenshot(path=str(artifacts / "reports-dashboard.png"), full_page=True)

    await page.click('[data-figure="created-today"]')
    await page.wait_for_url("**/reports/tickets?**")
    shown = await page.locator("[data-ticket-id]").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.ticketId))"
    )
    assert sorted(shown) == sorted(today)

    await page.goto(f"{server_url}/reports/view?metric=created&dimension=team")
    await page.wait_for_function("() => window.Chart && Chart.getChart('report-chart')")
    await page.screenshot(path=str(artifacts / "reports-created-by-team.png"), full_page=True)
    async with page.expect_download() as waiting:
        await page.click('[data-export="csv"]')
    download = await waiting.value
    saved = artifacts / "reports-created-by-team.csv"
    await download.save_as(str(saved))
    text = saved.read_text(encoding="utf-8-sig")
    assert "Support,1" in text and "Billing,1" in text and "total,total,2" in text
    await context.close()
