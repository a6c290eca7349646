"""Articles through the API: drafts, publishing rights, versions, translations, the portal's view."""

from __future__ import annotations

import httpx

from opora.runtime import Runtime
from tests.kb.conftest import KB, PUBLIC, hit_ids, make_article
from tests.support.factories import Desk
from tests.support.snapshot import snapshot


async def test_agents_write_drafts_and_supervisors_publish(
    client: httpx.AsyncClient, desk: Desk, runtime: Runtime
) -> None:
    draft = await make_article(
        client, desk.olga_h, title="Возврат товара", body_md="Верните товар за **14** дней."
    )
    assert draft["status"] == "draft" and draft["version"] == 1 and draft["slug"] == "vozvrat-tovara"
    assert "<strong>14</strong>" in draft["body_html"] and draft["created_by"] == desk.olga.id

    r = await client.patch(
        f"{KB}/articles/{draft['id']}", json={"body_md": "Верните товар за 30 дней."}, headers=desk.olga_h
    )
    assert r.status_code == 200 and r.json()["version"] == 2

    before = await snapshot(runtime)
    for headers in (desk.olga_h, desk.reader_h):
        r = await client.post(
            f"{KB}/articles/{draft['id']}/status", json={"status": "published"}, headers=headers
        )
        assert r.status_code == 403
    r = await client.post(f"{KB}/articles", json={"language": "ru", "title": "X"}, headers=desk.reader_h)
    assert r.status_code == 403
    assert await snapshot(runtime) == before

    r = await client.post(
        f"{KB}/articles/{draft['id']}/status",
        json={"status": "published", "note": "ok"},
        headers=desk.supervisor_h,
    )
    published = r.json()
    assert published["status"] == "published" and published["version"] == 3 and published["published_at"]
    # What visitors see changes only through a supervisor or an admin.
    r = await client.patch(f"{KB}/articles/{draft['id']}", json={"title": "Другое"}, headers=desk.olga_h)
    assert r.status_code == 403
    # The reader sees everything but changes nothing.
    assert (await client.get(f"{KB}/articles/{draft['id']}", headers=desk.reader_h)).status_code == 200


async def test_versions_record_who_changed_what_and_restore_adds_a_version(
    client: httpx.AsyncClient, desk: Desk
) -> None:
    a = await make_article(client, desk.olga_h, title="Оплата", body_md="Картой.", tags=["Оплата"])
    await client.patch(
        f"{KB}/articles/{a['id']}", json={"body_md": "Картой или СБП.", "note": "СБП"}, headers=desk.olga_h
    )
    await client.patch(
        f"{KB}/articles/{a['id']}", json={"title": "Способы оплаты"}, headers=desk.supervisor_h
    )
    # A save that changes nothing is no version.
    same = await client.patch(
        f"{KB}/articles/{a['id']}", json={"title": "Способы оплаты"}, headers=desk.olga_h
    )
    assert same.json()["version"] == 3

    versions = (await client.get(f"{KB}/articles/{a['id']}/versions", headers=desk.reader_h)).json()
    assert [(v["version"], v["changed"], v["editor_id"]) for v in versions] == [
        (3, ["title"], desk.supervisor.id),
        (2, ["body_md"], desk.olga.id),
        (1, sorted(v for v in versions[-1]["changed"]), desk.olga.id),
    ]
    assert versions[1]["note"] == "СБП" and a["tags"] == ["оплата"]

    r = await client.post(f"{KB}/articles/{a['id']}/restore", json={"version": 1}, headers=desk.olga_h)
    restored = r.json()
    assert restored["version"] == 4 and restored["title"] == "Оплата" and restored["body_md"] == "Картой."
    latest = (await client.get(f"{KB}/articles/{a['id']}/versions", headers=desk.olga_h)).json()[0]
    assert latest["note"] == "Restored version 1." and set(latest["changed"]) == {"title", "body_md"}
    missing = await client.post(f"{KB}/articles/{a['id']}/restore", json={"version": 9}, headers=desk.olga_h)
    assert missing.status_code == 404


async def test_portal_shows_only_published_public_articles(client: httpx.AsyncClient, desk: Desk) -> None:
    sup = desk.supervisor_h
    public = await make_article(
        client, desk.olga_h, title="Сроки доставки", body_md="Доставка за 2 дня.", publish_h=sup
    )
    internal = await make_article(
        client,
        desk.olga_h,
        title="Доставка: скрипт для агентов",
        body_md="Доставка, внутреннее.",
        internal=True,
        publish_h=sup,
    )
    draft = await make_article(client, desk.olga_h, title="Доставка черновик", body_md="Доставка скоро.")
    archived = await make_article(
        client, desk.olga_h, title="Доставка старое", body_md="Доставка раньше.", publish_h=sup
    )
    await client.post(f"{KB}/articles/{archived['id']}/status", json={"status": "archived"}, headers=sup)

    listed = (await client.get(f"{PUBLIC}/articles", params={"language": "ru"})).json()["items"]
    assert [a["id"] for a in listed] == [public["id"]]
    assert hit_ids(await client.get(f"{PUBLIC}/search", params={"q": "доставка"})) == [public["id"]]
    assert hit_ids(await client.get(f"{PUBLIC}/suggest", params={"q": "доста"})) == [public["id"]]
    for hidden in (internal, draft, archived):
        assert (await client.get(f"{PUBLIC}/articles/ru/{hidden['slug']}")).status_code == 404
        vote = await client.post(f"{PUBLIC}/articles/{hidden['id']}/votes", json={"helpful": True})
        assert vote.status_code == 404
    page = await client.get(f"{PUBLIC}/articles/ru/{public['slug']}")
    assert page.status_code == 200 and page.json()["body_html"] == "<p>Доставка за 2 дня.</p>"
    assert "body_md" not in page.json() and "internal" not in page.json()

    # Agents find internal articles too, drafts on request.
    agent = await client.get(f"{KB}/search", params={"q": "доставка"}, headers=desk.reader_h)
    assert set(hit_ids(agent)) == {public["id"], internal["id"]}
    with_drafts = await client.get(
        f"{KB}/search", params={"q": "доставка", "drafts": "true"}, headers=desk.olga_h
    )
    assert set(hit_ids(with_drafts)) == {public["id"], internal["id"], draft["id"]}
    # Making a published internal article public is a supervisor's decision.
    r = await client.patch(f"{KB}/articles/{internal['id']}", json={"internal": False}, headers=desk.olga_h)
    assert r.status_code == 403


async def test_translations_are_linked_and_views_counted(client: httpx.AsyncClient, desk: Desk) -> None:
    sup = desk.supervisor_h
    ru = await make_article(client, desk.olga_h, title="Возврат", publish_h=sup)
    en = await make_article(
        client, desk.olga_h, language="en", title="Returns", translation_of=ru["id"], publish_h=sup
    )
    assert en["translation_key"] == ru["translation_key"] and en["translations"] == {"ru": ru["id"]}
    again = await client.post(
        f"{KB}/articles",
        json={"language": "en", "title": "Returns 2", "translation_of": ru["id"]},
        headers=desk.olga_h,
    )
    assert again.status_code == 409
    for _ in range(2):
        page = (await client.get(f"{PUBLIC}/articles/ru/{ru['slug']}")).json()
    assert page["translations"] == {"en": "returns"}
    popular = await client.get(f"{KB}/articles/{ru['id']}", headers=desk.olga_h)
    assert popular.json()["view_count"] == 2


async def test_categories_and_sections_are_admin_work(client: httpx.AsyncClient, desk: Desk) -> None:
    cat = {"slug": "delivery", "title": {"ru": "Доставка", "en": "Delivery"}}
    assert (await client.post(f"{KB}/categories", json=cat, headers=desk.supervisor_h)).status_code == 403
    c = (await client.post(f"{KB}/categories", json=cat, headers=desk.admin_h)).json()
    s = await client.post(
        f"{KB}/sections",
        json={"slug": "terms", "title": {"ru": "Сроки"}, "category_id": c["id"]},
        headers=desk.admin_h,
    )
    assert s.status_code == 201
    dup = await client.post(f"{KB}/categories", json=cat, headers=desk.admin_h)
    assert dup.status_code == 409
    a = await make_article(
        client, desk.olga_h, title="Сроки", section_id=s.json()["id"], publish_h=desk.supervisor_h
    )
    ru = (await client.get(f"{PUBLIC}/categories", params={"language": "ru"})).json()
    assert [(x["slug"], [y["slug"] for y in x["sections"]]) for x in ru] == [("delivery", ["terms"])]
    # A section titled only in Russian is not offered in English.
    en = (await client.get(f"{PUBLIC}/categories", params={"language": "en"})).json()
    assert [(x["slug"], x["sections"]) for x in en] == [("delivery", [])]
    by_category = await client.get(f"{PUBLIC}/articles", params={"language": "ru", "category_id": c["id"]})
    assert [x["id"] for x in by_category.json()["items"]] == [a["id"]]
