"""Enrichment rules on clear examples, in Russian and English; tone hints for an agent's draft."""

from __future__ import annotations

import pytest

from opora.ai import tone
from opora.ai.enrich import detect_language, enrich, extract_order_numbers, extract_phones


@pytest.mark.parametrize(
    ("text", "orders"),
    [
        ("Где мой заказ №4581-22?", ["4581-22"]),
        ("заказ 7730215 какой статус?", ["7730215"]),
        ("my order #A-55123 is late", ["A-55123"]),
        ("Order number: 10452, please check", ["10452"]),
        ("оплатил 1500 рублей", []),
        ("позвоните +7 912 345-67-89", []),
    ],
)
def test_order_numbers(text: str, orders: list[str]) -> None:
    assert extract_order_numbers(text) == orders


@pytest.mark.parametrize(
    ("text", "phones"),
    [
        ("мой телефон +7 (912) 345-67-89", ["+79123456789"]),
        ("звоните 8 912 345 67 89", ["+79123456789"]),
        ("call me at +44 20 7946 0958", ["+442079460958"]),
        ("заказ 7730215", []),
    ],
)
def test_phones(text: str, phones: list[str]) -> None:
    assert extract_phones(text) == phones


def test_language_including_translit() -> None:
    assert detect_language("Здравствуйте, где мой заказ?") == "ru"
    assert detect_language("Hello, where is my parcel?") == "en"
    assert detect_language("gde moi zakaz nomer 5562301?") == "ru"
    assert detect_language("12345") is None


def test_anger_urgency_sentiment_topic() -> None:
    angry = enrich("ЭТО БЕЗОБРАЗИЕ!!! Верните деньги немедленно, третий раз обман")
    assert (
        angry.angry and angry.sentiment == "negative" and angry.urgency == "high" and angry.topic == "refunds"
    )
    furious = enrich("This is outrageous, the worst service ever. I want a refund")
    assert furious.angry and furious.topic == "refunds"
    calm = enrich("Спасибо, всё отлично, курьер привёз вовремя")
    assert (
        not calm.angry
        and calm.sentiment == "positive"
        and calm.urgency == "normal"
        and calm.topic == "delivery"
    )
    assert enrich("промокод не работает").topic == "promotions"


def test_tone_hints() -> None:
    codes = [h.code for h in tone.check("ок, щас гляну", customer_upset=True)]
    assert codes == ["no_greeting", "no_apology", "informal"]
    good = "Здравствуйте, Ирина! Извините за задержку — заказ уже в пути."
    assert tone.check(good, customer_upset=True) == []
    hints = tone.check("Уважаемый клиент, ваш заказ отправлен.", discouraged=["уважаемый клиент"])
    assert {h.code for h in hints} == {"no_greeting", "discouraged"}
    assert all(h.ru and h.en for h in hints)
