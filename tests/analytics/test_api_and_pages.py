"""The analytics API, its exports and the report pages: who may see them and what they hold."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import httpx

from opora.runtime import Runtime
from tests.analytics.scenario import Scenario, msk
from tests.support.factories import Desk
from tests.support.snapshot import snapshot
from tests.web.conftest import PageSession

SPAN = {"start": msk(16, 0).isoformat(), "end": msk(23, 0).isoformat()}


async def two_tickets(runtime: Runtime, desk: Desk) -> tuple[int, int]:
    s = Scenario(runtime)
    first = await s.ticket(msk(16, 10), channel="api", team_id=desk.support.id, topic="оплата")
    await s.reply(first, msk(16, 10, 30))
    second = await s.ticket(msk(17, 12), channel="api", team_id=desk.billing.id, topic="доставка")
    await s.reply(second, msk(17, 13, 30))
    return first, second


async def test_report_api_for_supervisors_only(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    first, second = await two_tickets(runtime, desk)
    r = await client.get(
        "/api/v1/analytics/reports/first_response_time",
        params={**SPAN, "dimension": "team"},
        headers=desk.supervisor_h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"]["count"] == 2 and body["total"]["median"] == 3600.0
    rows = {row["label"]: row for row in body["rows"]}
    assert rows["Support"]["average"] == 1800.0 and rows["Billing"]["average"] == 5400.0
    assert body["previous"]["count"] == 0
    drill = await client.get(
        "/api/v1/analytics/reports/first_response_time/tickets",
        params={**SPAN, "dimension": "team", "key": str(desk.billing.id)},
        headers=desk.admin_h,
    )
    assert drill.json()["ticket_ids"] == [second]
    for headers in (desk.olga_h, desk.reader_h):
        for path in ("/reports/created", "/reports/created/tickets", "/reports/created/export", "/dashboard"):
            refused = await client.get(f"/api/v1/analytics{path}", params=SPAN, headers=headers)
            assert refused.status_code == 403, path
    assert first != second


async def test_bad_spans_are_refused_and_change_nothing(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    before = await snapshot(runtime)
    r = await client.get(
        "/api/v1/analytics/reports/created",
        params={"start": SPAN["end"], "end": SPAN["start"]},
        headers=desk.supervisor_h,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "end"
    r = await client.get(
        "/api/v1/analytics/reports/created",
        params={"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"},
        headers=desk.supervisor_h,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "start"
    assert await snapshot(runtime) == before


async def test_csv_and_xlsx_exports_hold_the_report(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    await two_tickets(runtime, desk)
    params = {**SPAN, "dimension": "topic"}
    r = await client.get("/api/v1/analytics/reports/created/export", params=params, headers=desk.supervisor_h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[1] == ["key", "label", "count"]
    assert sorted(rows[2:4]) == [["доставка", "доставка", "1"], ["оплата", "оплата", "1"]]
    assert rows[4] == ["total", "total", "2"]

    x = await client.get(
        "/api/v1/analytics/reports/first_response_time/export",
        params={**params, "format": "xlsx"},
        headers=desk.supervisor_h,
    )
    assert x.status_code == 200
    with zipfile.ZipFile(io.BytesIO(x.content)) as book:
        strings = re.findall(r"<t[^>]*>([^<]*)</t>", book.read("xl/sharedStrings.xml").decode())
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert {"key", "median", "p90", "оплата", "доставка", "total"} <= set(strings)
    numbers = re.findall(r"<v>([0-9.]+)</v>", sheet)
    assert "1800" in numbers and "5400" in numbers and "3600" in numbers


async def test_dashboard_counts_queues_and_today(
    client: httpx.AsyncClient, runtime: Runtime, desk: Desk
) -> None:
    s = Scenario(runtime)
    from opora.kit.time import utcnow

    await s.ticket(utcnow(), channel="api", team_id=desk.support.id)
    await s.ticket(utcnow(), channel="api", team_id=desk.support.id, assignee_id=desk.olga.id)
    r = await client.get("/api/v1/analytics/dashboard", headers=desk.supervisor_h)
    assert r.status_code == 200, r.text
    board = r.json()
    assert board["created_today"] == 2
    support = next(q for q in board["queues"] if q["team"] == "Support")
    assert (support["working"], support["unassigned"]) == (2, 1)
    olga = next(a for a in board["agents"] if a["name"] == "Olga")
    assert olga["open_tickets"] == 1


async def test_pages_for_supervisors_and_403_for_agents(login, runtime: Runtime, desk: Desk) -> None:  # type: ignore[no-untyped-def]
    first, second = await two_tickets(runtime, desk)
    boss: PageSession = await login(desk.supervisor)
    page = await boss.get("/reports")
    assert page.status_code == 200 and 'data-figure="created-today"' in page.text
    assert 'href="/reports"' in page.text  # the nav link
    report = await boss.get(
        "/reports/view",
        params={
            "metric": "first_response_time",
            "dimension": "team",
            "from": "2026-03-16",
            "to": "2026-03-22",
        },
    )
    assert report.status_code == 200
    assert "Support" in report.text and "chart.umd.min.js" in report.text
    links = re.findall(r'href="(/reports/tickets\?[^"]+)"', report.text)
    billing = next(link for link in links if f"key={desk.billing.id}" in link.replace("&amp;", "&"))
    drilled = await boss.get(billing.replace("&amp;", "&"))
    assert f'data-ticket-id="{second}"' in drilled.text and f'data-ticket-id="{first}"' not in drilled.text

    agent: PageSession = await login(desk.olga)
    for url in ("/reports", "/reports/view", "/reports/tickets?metric=created"):
        refused = await agent.get(url, headers={"accept": "text/html"})
        assert refused.status_code == 403, url
    inbox = await agent.get("/inbox")
    assert 'href="/reports"' not in inbox.text
