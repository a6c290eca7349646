import httpx

from opora.jobs import service
from opora.jobs.models import Job
from opora.runtime import Runtime
from tests.support.factories import Desk


async def test_admin_sees_dead_jobs_and_retries_them(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    async with runtime.db.uow() as uow:
        job_id = await service.enqueue(uow, "messages.deliver", {"message_id": 1})
    async with runtime.db.uow() as uow:
        job = await uow.session.get(Job, job_id)
        assert job is not None
        job.state, job.attempts, job.last_error = "dead", 8, "SMTP 550 mailbox unavailable"
    assert (await client.get("/api/v1/admin/jobs", headers=desk.olga_h)).status_code == 403
    dead = (await client.get("/api/v1/admin/jobs", headers=desk.admin_h)).json()["items"]
    assert [(j["id"], j["last_error"]) for j in dead] == [(job_id, "SMTP 550 mailbox unavailable")]
    stats = (await client.get("/api/v1/admin/jobs/stats", headers=desk.admin_h)).json()
    assert stats["counts"]["dead"] == 1
    r = await client.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=desk.admin_h)
    assert r.status_code == 200 and r.json()["state"] == "queued"
    again = await client.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=desk.admin_h)
    assert again.status_code == 409
    assert (await client.get("/api/v1/admin/jobs/999999", headers=desk.admin_h)).status_code == 404
