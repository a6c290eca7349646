from pathlib import Path

import httpx
import pytest

from opora.kit.errors import PayloadTooLarge
from opora.kit.storage import AttachmentStore
from opora.runtime import Runtime
from opora.tickets.models import Attachment, Message
from tests.support.factories import Desk


def test_store_is_content_addressed_and_bounded(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path, max_bytes=10)
    digest = store.put(b"hello")
    assert store.put(b"hello") == digest
    assert store.get(digest) == b"hello"
    assert store.path_for(digest).parent.parent.parent == tmp_path
    assert not any(p.name.startswith(".part-") for p in tmp_path.rglob("*"))
    with pytest.raises(PayloadTooLarge):
        store.put(b"x" * 11)
    with pytest.raises(ValueError, match="sha256"):
        store.path_for("../../etc/passwd")


async def test_download_is_scoped_to_visible_tickets(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    r = await client.post(
        "/api/v1/tickets",
        json={
            "customer": {"identity": {"kind": "email", "value": "a@b.example"}},
            "team_id": desk.support.id,
            "message": {"text": "см. вложение", "author": "customer"},
        },
        headers=desk.admin_h,
    )
    ticket_id = r.json()["id"]
    digest = runtime.storage.put(b"<svg onload=alert(1)>")
    async with runtime.db.uow() as uow:
        message = await uow.session.get(Message, 1)
        assert message is not None and message.ticket_id == ticket_id
        row = Attachment(
            message_id=message.id,
            sha256=digest,
            filename="счёт «март».svg",
            content_type="image/svg+xml",
            size=21,
        )
        uow.session.add(row)
        await uow.session.flush()
        attachment_id = row.id
    got = await client.get(f"/api/v1/attachments/{attachment_id}", headers=desk.olga_h)
    assert got.status_code == 200 and got.content == b"<svg onload=alert(1)>"
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "UTF-8''" in got.headers["content-disposition"]
    listed = (await client.get(f"/api/v1/tickets/{ticket_id}/messages", headers=desk.olga_h)).json()["items"]
    assert listed[0]["attachments"][0]["filename"] == "счёт «март».svg"
    assert (await client.get(f"/api/v1/attachments/{attachment_id}", headers=desk.pavel_h)).status_code == 403
    assert (await client.get("/api/v1/attachments/999999", headers=desk.olga_h)).status_code == 404
