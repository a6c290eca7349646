"""Every text the pages show exists in Russian as well as English."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_file

from opora.web import i18n

WEB = Path(i18n.__file__).parent


def _msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(WEB.rglob("*")):
        if path.suffix == ".html":
            method = "jinja2.ext:babel_extract"
        elif path.suffix == ".py":
            method = "python"
        else:
            continue
        for lineno, message, _comments, _context in extract_from_file(
            method,
            str(path),
            keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
            options={"extensions": "jinja2.ext.i18n"},
        ):
            # Plural texts are keyed by their singular and form number, like i18n.catalog stores them.
            key = message if isinstance(message, str) else f"{message[0]}\x000"
            found.setdefault(key, f"{path.relative_to(WEB)}:{lineno}")
    return found


def test_every_page_text_has_a_russian_translation() -> None:
    ids = _msgids()
    assert len(ids) > 100, "the extractor found suspiciously few texts"
    russian = i18n.catalog("ru")
    missing = {text: where for text, where in ids.items() if text not in russian}
    assert missing == {}


def test_language_choice_prefers_the_browser_weights_and_falls_back_to_russian() -> None:
    assert i18n.from_accept_language("de-DE,en;q=0.8,ru;q=0.5") == "en"
    assert i18n.from_accept_language("ru-RU,ru;q=0.9,en-US;q=0.8") == "ru"
    assert i18n.from_accept_language("de, fr;q=0.5") is None
    assert i18n.normalise("EN_us") == "en" and i18n.normalise("kk") is None
    with i18n.use_language("en"):
        assert i18n.gettext("Inbox") == "Inbox"
    with i18n.use_language("ru"):
        assert i18n.gettext("Inbox") == "Входящие"


def test_russian_plural_forms() -> None:
    assert [i18n._ru_plural(n) for n in (1, 2, 5, 11, 21, 22, 25, 112)] == [0, 1, 2, 2, 0, 1, 2, 2]
