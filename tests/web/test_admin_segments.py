"""The admin screen for customer segment rules, through a logged-in browser session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from opora.customers.models import SegmentRule
from opora.runtime import Runtime
from tests.support.snapshot import snapshot
from tests.web.conftest import PageSession

FORM: dict[str, Any] = {
    "name": "Big spenders",
    "segment": "vip",
    "is_active": "1",
    "match": "any",
    "c0_field": "customer.spend",
    "c0_op": "at_least",
    "c0_value": "50000",
    "c1_field": "customer.orders",
    "c1_op": "at_least",
    "c1_value": "10",
    "c2_field": "",
}


async def rules(runtime: Runtime) -> list[SegmentRule]:
    async with runtime.db.uow() as uow:
        return list((await uow.session.scalars(select(SegmentRule).order_by(SegmentRule.position))).all())


async def test_add_edit_reorder_and_delete_segment_rules(admin_page: PageSession, runtime: Runtime) -> None:
    page = await admin_page.get("/admin/segments")
    assert page.status_code == 200 and 'name="c0_field"' in page.text

    r = await admin_page.post("/admin/segments", data=FORM)
    assert r.status_code == 303, r.text
    [rule] = await rules(runtime)
    assert (rule.segment, rule.conditions["any"][0]["value"], rule.conditions["any"][1]["value"]) == (
        "vip",
        "50000",
        10,
    )
    listed = await admin_page.get("/admin/segments")
    assert "Big spenders" in listed.text and f'data-segment-rule-id="{rule.id}"' in listed.text
    edit = await admin_page.get(f"/admin/segments/{rule.id}")
    assert 'value="50000"' in edit.text

    r = await admin_page.post(
        "/admin/segments", data={**FORM, "name": "Loyal", "segment": "loyal", "match": "all"}
    )
    assert r.status_code == 303
    first, second = await rules(runtime)
    assert (await admin_page.post(f"/admin/segments/{second.id}/up", data={})).status_code == 303
    assert [x.segment for x in await rules(runtime)] == ["loyal", "vip"]
    r = await admin_page.post(f"/admin/segments/{first.id}", data={**FORM, "segment": "gold"})
    assert r.status_code == 303
    assert (await admin_page.post(f"/admin/segments/{first.id}/toggle", data={})).status_code == 303
    changed = next(x for x in await rules(runtime) if x.id == first.id)
    assert (changed.segment, changed.is_active) == ("gold", False)
    assert (await admin_page.post(f"/admin/segments/{second.id}/delete", data={})).status_code == 303
    assert [x.id for x in await rules(runtime)] == [first.id]


async def test_a_refused_form_shows_why_and_changes_nothing(
    admin_page: PageSession, runtime: Runtime
) -> None:
    before = await snapshot(runtime)
    r = await admin_page.post("/admin/segments", data={**FORM, "c1_value": "1.5"})
    assert r.status_code == 422
    assert 'aria-invalid="true" aria-describedby="err-c1"' in r.text
    r = await admin_page.post("/admin/segments", data={**FORM, "c0_field": "", "c1_field": ""})
    assert r.status_code == 422 and "err-conditions" in r.text
    r = await admin_page.post("/admin/segments", data={**FORM, "segment": ""})
    assert r.status_code == 422 and "err-segment" in r.text
    assert await snapshot(runtime) == before
