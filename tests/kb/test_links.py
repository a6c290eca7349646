"""The portal address of an article, built in one place."""

from __future__ import annotations

from opora.kb.links import article_path, article_url


def test_article_addresses() -> None:
    assert article_path("ru", "kak-vernut-tovar") == "/help/ru/articles/kak-vernut-tovar"
    assert (
        article_url("https://help.shop.example/", "en", "returns")
        == "https://help.shop.example/help/en/articles/returns"
    )
    # A slug is made by the KB from the title, but an address must never be broken by one.
    assert article_path("ru", "a/b?c#d") == "/help/ru/articles/a%2Fb%3Fc%23d"
