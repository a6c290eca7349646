"""Translations of the HTML pages: English in the source, Russian from a Babel catalog.

The catalog is the ``.po`` file itself, read once per process: there is no compile step to forget
and no binary file in the repository. The language of the current request lives in a context
variable, so templates and Python code call the same ``gettext`` without passing it around.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGE_COOKIE = "opora_lang"

_current: ContextVar[str] = ContextVar("opora_language", default=DEFAULT_LANGUAGE)


@cache
def catalog(language: str) -> dict[str, str]:
    """msgid → translation; English needs none. Plural entries are keyed ``singular`` + ``\x00n``."""
    if language == "en":
        return {}
    result: dict[str, str] = {}
    # One catalog file per area of the UI (messages.po, admin.po, ...), merged.
    for path in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            _merge(read_po(handle, locale=language), result)
    return result


def _merge(parsed: Catalog, result: dict[str, str]) -> None:
    for message in parsed:
        if isinstance(message.id, str) and isinstance(message.string, str):
            if message.id and message.string:
                result[message.id] = message.string
        elif isinstance(message.id, tuple | list) and isinstance(message.string, tuple | list):
            for form, text in enumerate(message.string):
                if text:
                    result[f"{message.id[0]}\x00{form}"] = text


def normalise(language: str | None) -> str | None:
    if not language:
        return None
    short = language.strip().lower().replace("_", "-").split("-")[0]
    return short if short in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by the browser's weights."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        language = normalise(tag)
        if language:
            ranked.append((-weight, position, language))
    return min(ranked)[2] if ranked else None


def current_language() -> str:
    return _current.get()


@contextmanager
def use_language(language: str) -> Iterator[None]:
    token = _current.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _current.reset(token)


def set_language(language: str) -> None:
    """For the rest of this request (a request runs in its own context)."""
    _current.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def gettext(message: str) -> str:
    return catalog(_current.get()).get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Russian has three plural forms (msgstr[0..2] in the catalog)."""
    if _current.get() == "ru":
        translated = catalog("ru").get(f"{singular}\x00{_ru_plural(n)}")
        if translated:
            return translated
    return singular if n == 1 else plural


def _ru_plural(n: int) -> int:
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


_ = gettext
