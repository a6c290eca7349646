import pytest

from opora.customers.identity import normalize, normalize_email, normalize_external_id, normalize_phone
from opora.customers.models import IdentityKind
from opora.kit.errors import InvalidInput


@pytest.mark.parametrize(
    "raw",
    [
        "8 (912) 345-67-89",
        "+7 912 345 67 89",
        "+7 (912) 345-67-89",
        "89123456789",
        "79123456789",
        "+79123456789",
        "9123456789",
        "8-912-345-67-89",
        "  8 912 345\u00a067 89 ",
        "+7.912.345.67.89",
        "007 912 345 67 89",
    ],
)
def test_russian_phone_forms_become_one_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+79123456789"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+375 29 123-45-67", "+375291234567"),
        ("375291234567", "+375291234567"),
        ("+1 (212) 555-0100", "+12125550100"),
        ("8 (495) 123-45-67", "+74951234567"),
    ],
)
def test_other_phone_forms(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected
    assert normalize_phone(expected) == expected  # normalising twice changes nothing


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("call me", "use digits"),
        ("+7 912 345 67 89 доб. 12", "use digits"),
        ("++79123456789", "use digits"),
        ("7+9123456789", "use digits"),
        ("+7 912 345 67 8", "ten digits"),
        ("+7 912 345 67 890", "ten digits"),
        ("8 912 345 67", "eleven digits"),
        ("12345", "country code"),
        ("+0123456789", "never starts with 0"),
        ("+1234567890123456", "7 to 15"),
        ("+123456", "7 to 15"),
        ("00", "7 to 15"),
        ("+７９１２３４５６７８９", "use digits"),  # full-width digits
        ("+7 ٩١٢ ٣٤٥ ٦٧ ٨٩", "use digits"),  # Arabic-Indic digits pass str.isdigit
    ],
)
def test_bad_phones_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_phone(raw, field="phone")
    assert reason in caught.value.message
    assert caught.value.field == "phone"


def test_email_is_stripped_and_lowercased() -> None:
    assert normalize_email("  Ivan.Petrov@Shop.RU ") == "ivan.petrov@shop.ru"
    assert normalize_email("ivan@пример.рф") == "ivan@пример.рф"


@pytest.mark.parametrize(
    "raw", ["", "ivan", "ivan@shop", "ivan @shop.ru", "@shop.ru", "a@b@c.ru", "x" * 250 + "@a.ru"]
)
def test_bad_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_email(raw)


@pytest.mark.parametrize("kind", ["telegram", "vk", "whatsapp", "viber", "webchat", "shop"])
def test_external_ids_are_stripped_only(kind: str) -> None:
    assert normalize(kind, "  12345AbC=  ") == (IdentityKind(kind), "12345AbC=")


@pytest.mark.parametrize("raw", ["", "  ", "12 345", "id\x00", "tab\tid", "x" * 321])
def test_bad_external_ids_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_external_id(raw)


def test_normalize_names_the_failing_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize("fax", "123", field="identities.2")
    assert caught.value.field == "identities.2.kind"
    assert "email, phone" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        normalize("phone", "123", field="identities.2")
    assert caught.value.field == "identities.2.value"
    with pytest.raises(InvalidInput) as caught:
        normalize("email", "nope", field="")
    assert caught.value.field == "value"


def test_kind_is_case_insensitive() -> None:
    assert normalize(" EMAIL ", "A@B.RU") == (IdentityKind.EMAIL, "a@b.ru")
