"""Server time of the help centre's pages on a knowledge base of --articles published articles.

Articles are written through the knowledge-base service (so they are rendered, versioned and
indexed as in production) in 20 sections of 4 categories. Requests go through the ASGI app
in-process (no network, no login), so the figure is the server's own time: routing, queries,
search, rendering. The article page counts a view on every request, as it does for visitors.

Usage: .venv/bin/python bench/portal_pages.py [--runs 200] [--articles 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.settings import settings_for  # noqa: E402

from opora.agents.models import Agent, Role  # noqa: E402
from opora.app import create_app  # noqa: E402
from opora.auth.permissions import Principal  # noqa: E402
from opora.kb import service as kb  # noqa: E402
from opora.kb.schemas import ArticleCreate, CategoryIn, SectionIn  # noqa: E402
from opora.migrate import upgrade  # noqa: E402
from opora.runtime import Runtime, build_runtime  # noqa: E402

TOPICS = ["доставка", "возврат", "оплата", "заказ", "гарантия", "пункт выдачи", "курьер", "скидка"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _time(http: httpx.AsyncClient, url: str, runs: int) -> tuple[float, float]:
    for _ in range(5):  # warm caches and the template compiler
        assert (await http.get(url)).status_code == 200
    spent = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await http.get(url)
        spent.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return statistics.median(spent), _percentile(spent, 0.99)


async def _build(runtime: Runtime, count: int) -> str:
    async with runtime.db.uow() as uow:
        agent = Agent(email="bench@shop.test", name="Bench", role=Role.ADMIN, language="ru")
        uow.session.add(agent)
        await uow.session.flush()
        principal = Principal(agent_id=agent.id, role=Role.ADMIN, team_ids=frozenset(), via="session")
        sections = []
        for c in range(4):
            category = await kb.create_category(
                uow, CategoryIn.model_validate({"slug": f"cat-{c}", "title": {"ru": f"Категория {c}"}})
            )
            for s in range(5):
                section = await kb.create_section(
                    uow,
                    SectionIn.model_validate(
                        {
                            "category_id": category.id,
                            "slug": f"sec-{c}-{s}",
                            "title": {"ru": f"Раздел {c}.{s}"},
                        }
                    ),
                )
                sections.append(section.id)
    slug = ""
    for start in range(0, count, 200):
        async with runtime.db.uow() as uow:
            for n in range(start, min(count, start + 200)):
                topic, other = TOPICS[n % len(TOPICS)], TOPICS[(n * 3 + 1) % len(TOPICS)]
                data = ArticleCreate.model_validate(
                    {
                        "language": "ru",
                        "title": f"Вопрос {n}: {topic} и {other}",
                        "body_md": f"Как устроены **{topic}** и {other} в заказе номер {n}. " * 12,
                        "section_id": sections[n % len(sections)],
                    }
                )
                article = await kb.create_article(uow, principal, data)
                await kb.set_status(uow, principal, article.id, "published", "")
                slug = article.slug
    return slug


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--articles", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, url)
        runtime = build_runtime(settings_for(Path(tmp) / "data", url))
        await runtime.start()
        slug = await _build(runtime, args.articles)
        app = create_app(runtime, run_worker=False)
        print(f"python {platform.python_version()} · {platform.machine()} · {os.cpu_count()} CPUs · SQLite")
        print(f"{args.articles} published articles, {args.runs} requests per page")
        print(f"{'page':<32} {'p50 ms':>8} {'p99 ms':>8}")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            rows = [
                ("home", "/help/ru"),
                ("section (100 articles)", "/help/ru/sections/sec-0-0"),
                ("article", f"/help/ru/articles/{slug}"),
                ("search «возврат заказа»", "/help/ru/search?q=" + quote("возврат заказа")),
                ("suggest «пункт выд»", "/help/ru/suggest?q=" + quote("пункт выд")),
                ("sitemap.xml", "/help/sitemap.xml"),
            ]
            for name, path in rows:
                p50, p99 = await _time(http, path, args.runs)
                print(f"{name:<32} {p50:8.1f} {p99:8.1f}")
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(main())
