"""Pure parts of search: stemming, query building, synonyms, typos, highlights, slugs."""

from __future__ import annotations

import pytest

from opora.kb.markdown import plain_text, render
from opora.kb.search import highlight, query, typos
from opora.kb.search.synonyms import compile_groups
from opora.kb.service import slugify
from opora.kit.text import fold, stem, stems, words


def test_russian_forms_share_a_stem() -> None:
    assert len({stem(w) for w in ("возврат", "возврата", "возвратом", "возвраты")}) == 1
    assert len({stem(w) for w in ("заказ", "заказы", "заказом", "заказов")}) == 1
    assert stem("доставка") == stem("доставки") == stem("доставкой")
    assert stems("Ёлка ЁЛКИ") == stems("елка елки")


def test_each_word_is_stemmed_by_its_own_script() -> None:
    assert stems("Refunds возвраты 2024") == ["refund", stem("возвраты"), "2024"]
    assert words("iPhone_15 — «чехол»!") == ["iphone", "15", "чехол"]
    assert fold("  ПВЗ\tи  Ёж ") == "пвз и еж"


@pytest.mark.parametrize(
    "text",
    [
        '"',
        "'; DROP TABLE kb_articles; --",
        'возврат" OR 1=1 --',
        "NEAR(a b) AND NOT c*",
        "title:возврат -доставка ^x (y) {z} [w]",
        "***",
        "\x00\x01 ∑ 🙂",
        "a" * 5000,
        "слово " * 1000,
    ],
)
def test_syntax_characters_never_reach_the_expression(text: str) -> None:
    parsed = query.parse(text, prefix_last=True)
    expression = query.fts5_expression(parsed)
    for quoted in expression.split('"')[1::2]:
        assert all(ch.isalnum() or ch == " " for ch in quoted)
    assert len(parsed.clauses) <= query.MAX_CLAUSES
    ts = query.tsquery_expression(parsed)
    assert ";" not in ts and "--" not in ts


def test_empty_and_stopword_queries() -> None:
    assert query.parse("").empty and query.parse("  ?!. ").empty
    # Only stop words: they are searched rather than nothing.
    assert not query.parse("how to").empty
    assert query.parse("как вернуть товар?").stems() == {stem("вернуть"), stem("товар")}


def test_the_last_word_is_a_prefix_only_while_typing() -> None:
    typing = query.parse("пункт выд", prefix_last=True)
    assert typing.clauses[-1].prefix and query.fts5_expression(typing).endswith('"выд"*)')
    assert query.tsquery_expression(typing).endswith("('выд':*))")
    assert not query.parse("пункт выд ", prefix_last=True).clauses[-1].prefix


def test_synonym_groups_become_alternatives() -> None:
    groups = compile_groups([["ПВЗ", "пункт выдачи", "постамат"], ["один"]])
    assert len(groups) == 1
    parsed = query.parse("где ближайший ПВЗ", synonyms=groups)
    expression = query.fts5_expression(parsed)
    assert '"пвз" OR "пункт выдач" OR "постамат"' in expression
    assert "'пункт' <-> 'выдач'" in query.tsquery_expression(parsed)
    # The phrase form in a query is expanded the same way.
    assert '"пвз"' in query.fts5_expression(query.parse("пункты выдачи", synonyms=groups))


def test_typo_corrections_by_edit_distance() -> None:
    vocabulary = ["возврат", "возраст", "доставк", "заказ"]
    assert typos.corrections("возрват", vocabulary)[0] == "возврат"  # swapped letters
    assert typos.corrections("доствк", vocabulary) == ["доставк"]  # a missing letter
    assert typos.corrections("зак", vocabulary) == []  # too short to guess
    assert typos.distance("abcdef", "badcfe", 1) == 2


def test_highlights_escape_everything_but_mark() -> None:
    text = "Как оформить <script>alert(1)</script> возврат товара & получить деньги."
    marked = highlight.mark(text, {stem("возврат")})
    assert "<mark>возврат</mark>" in marked and "&lt;script&gt;" in marked and "&amp;" in marked
    long = " ".join(["слово"] * 100) + " возвратом денег " + " ".join(["текст"] * 100)
    snippet = highlight.snippet(long, {stem("возврат")})
    assert snippet.startswith("…") and snippet.endswith("…") and "<mark>возвратом</mark>" in snippet
    assert highlight.snippet("", {"x"}) == ""
    # Past the scanned words the text is cut, never dumped whole.
    huge = "возврат " + "слово " * 5000
    assert (
        highlight.snippet(huge, {stem("возврат")}).endswith("…") and len(highlight.snippet(huge, set())) < 400
    )


def test_markdown_is_rendered_and_sanitised() -> None:
    html = render(
        "# Возврат\n\n![схема](https://cdn.shop.test/a.png) <script>x()</script> [a](javascript:alert(1))"
    )
    assert "<h1>Возврат</h1>" in html and '<img src="https://cdn.shop.test/a.png"' in html
    # Raw HTML is shown as text and a script link is no link.
    assert "<script" not in html and "&lt;script&gt;" in html and 'href="javascript' not in html
    assert plain_text(render("**Жирный** текст\n\n- пункт")) == "Жирный текст\nпункт"


def test_slugs_are_latin() -> None:
    assert slugify("Возврат товара — сроки!") == "vozvrat-tovara-sroki"
    assert slugify("Объём и щётка") == "obem-i-shchetka"
    assert slugify("???") == "article"
