from datetime import timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from opora.app import create_app
from opora.jobs.models import Job, JobState
from opora.kit.time import utcnow
from opora.runtime import Runtime
from tests.ops.helpers import app_client
from tests.support.factories import Desk


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def requests(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], method: str, route: str, status: str
) -> float:
    key = ("opora_http_requests_total", (("method", method), ("route", route), ("status", status)))
    return samples.get(key, 0.0)


async def test_requests_are_counted_by_route_template(client: httpx.AsyncClient, desk: Desk) -> None:
    before = await scrape(client)
    for _ in range(2):
        assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/api/v1/agents/987654", headers=desk.admin_h)).status_code == 404
    assert (await client.get(f"/api/v1/agents/{desk.olga.id}", headers=desk.admin_h)).status_code == 200
    assert (await client.get("/wp-login.php")).status_code == 404
    assert (await client.request("BREW", "/healthz")).status_code == 405
    after = await scrape(client)

    assert requests(after, "GET", "/healthz", "200") - requests(before, "GET", "/healthz", "200") == 2
    # Path parameters stay templates and unknown paths share one label: the series stay few.
    assert requests(after, "GET", "/api/v1/agents/{agent_id}", "404") == 1
    assert requests(after, "GET", "/api/v1/agents/{agent_id}", "200") == 1
    assert requests(after, "GET", "<unmatched>", "404") == 1
    assert requests(after, "OTHER", "/healthz", "405") == 1
    assert not any("987654" in str(labels) or "wp-login" in str(labels) for _, labels in after)
    latency = (
        "opora_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/healthz"), ("status", "200")),
    )
    assert after[latency] >= 2
    # The previous scrape itself was counted too.
    assert requests(after, "GET", "/metrics", "200") >= 1


async def test_job_gauges_are_read_at_scrape_time(client: httpx.AsyncClient, runtime: Runtime) -> None:
    now = utcnow()
    async with runtime.db.uow() as uow:
        uow.session.add_all(
            [
                Job(task="mail.send", state=JobState.QUEUED, run_at=now - timedelta(seconds=90)),
                Job(task="mail.send", state=JobState.QUEUED, run_at=now - timedelta(seconds=5)),
                Job(task="sla.check", state=JobState.QUEUED, run_at=now + timedelta(hours=1)),
                Job(task="mail.send", state=JobState.RUNNING, run_at=now - timedelta(seconds=300)),
                Job(task="mail.send", state=JobState.DEAD, run_at=now - timedelta(days=1)),
            ]
        )
    samples = await scrape(client)
    jobs = {dict(labels)["state"]: value for (name, labels), value in samples.items() if name == "opora_jobs"}
    assert jobs == {"queued": 3, "running": 1, "done": 0, "dead": 1}
    # The oldest queued job that is due waits for 90 s; running and future jobs do not count.
    lag = samples[("opora_jobs_queue_lag_seconds", ())]
    assert 90 <= lag < 150


async def test_empty_queue_has_zero_lag(client: httpx.AsyncClient) -> None:
    samples = await scrape(client)
    assert samples[("opora_jobs_queue_lag_seconds", ())] == 0
    assert samples[("opora_jobs", (("state", "queued"),))] == 0


async def test_each_app_has_its_own_registry(runtime: Runtime) -> None:
    first, second = create_app(runtime, run_worker=False), create_app(runtime, run_worker=False)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as b,
    ):
        for _ in range(3):
            await a.get("/healthz")
        assert requests(await scrape(a), "GET", "/healthz", "200") == 3
        assert requests(await scrape(b), "GET", "/healthz", "200") == 0


async def test_metrics_survive_an_unreadable_jobs_table(tmp_path: Path) -> None:
    async with app_client(tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}") as http:
        await http.get("/healthz")
        samples = await scrape(http)
    assert requests(samples, "GET", "/healthz", "200") == 1
    assert not any(name.startswith("opora_jobs") for name, _ in samples)
