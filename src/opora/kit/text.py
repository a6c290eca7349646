"""Text normalisation and Russian + English stemming shared by search, the bot and analytics.

Words are folded (NFKC, case-folded in every script, «ё» read as «е») and split on anything that
is not a letter or a digit. Each word is stemmed by the Snowball stemmer of its own script:
Cyrillic words by the Russian one, Latin words by the English one. Deciding per word rather than
per document is what lets a mixed query («статус order») and a mixed article match, and it costs
nothing: a Russian stemmer leaves Latin words alone anyway, so "both stems per word" would only
double the index.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

import Stemmer  # type: ignore[import-not-found]

_SPACES = re.compile(r"\s+")
# Letters and digits of any script; "_" is a word character for re but a separator for people.
_WORD = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[а-я]")
_LATIN = re.compile(r"[a-z]")

_STEMMERS = {"ru": Stemmer.Stemmer("russian"), "en": Stemmer.Stemmer("english")}

# Words that carry no topic; dropped from queries so that "how can I ..." does not rank articles
# by how often they say "how". Kept short on purpose: a negation or a pronoun can matter.
_STOPWORDS = """
    a an the and or of to in on at for from by with is are was were be been being am do does did
    i me my we our you your it its this that these those there here what which who whom how can
    could would should will shall may might must have has had please pls hi hello hey thanks thank
    thx dear just about into as if so than then also any some
    и в во на с со к ко по о об от до из у за для не ни а но же ли бы то это этот эта эти тот
    та те как так что чтобы где когда мне меня мой моя мое мои вы вас вам ваш ваша я мы нас нам
    он она оно они его ее их был была было были есть быть пожалуйста пожалуйсто здравствуйте
    добрый день вечер утро привет спасибо подскажите скажите можно ли уже еще очень все всё
"""
STOPWORDS = frozenset(_STOPWORDS.split())


def fold(text: str) -> str:
    """The comparable form of a text: case-folded in any script, «ё» as «е», single spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return _SPACES.sub(" ", folded).strip()


def words(text: str) -> list[str]:
    """Folded words in order; punctuation, symbols and "_" separate them."""
    return _WORD.findall(fold(text))


def word_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, folded word) over the text as written, for highlighting it in place.

    Folding may change length (NFKC ligatures, "ß"), so each word is folded on its own and the
    offsets always point into the original text.
    """
    lowered = text.lower().replace("ё", "е")
    if len(lowered) == len(text):
        # Fast path (almost every text): lower-casing kept every offset, so one pass over the
        # lowered text gives the words and their places; NFKC only matters for rare symbols,
        # and a text already in NFKC (checked once, in C) needs no per-word check.
        normal = unicodedata.is_normalized("NFKC", lowered)
        for match in _WORD.finditer(lowered):
            word = match.group()
            if normal or unicodedata.is_normalized("NFKC", word):
                yield match.start(), match.end(), word.casefold()
            else:
                yield match.start(), match.end(), fold(word)
        return
    for match in _WORD.finditer(text):
        yield match.start(), match.end(), fold(match.group())


def script_of(word: str) -> str | None:
    """ "ru" for a word with Cyrillic letters, "en" for Latin ones, None for digits only."""
    if _CYRILLIC.search(word):
        return "ru"
    if _LATIN.search(word):
        return "en"
    return None


# Russian typed in Latin letters ("otmenite zakaz"), the common informal spelling; longest first.
_TRANSLIT = [
    ("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("ch", "ч"), ("sh", "ш"),
    ("yu", "ю"), ("ju", "ю"), ("ya", "я"), ("ja", "я"),
    ("a", "а"), ("b", "б"), ("v", "в"), ("w", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"),
    ("i", "и"), ("j", "й"), ("k", "к"), ("q", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"),
    ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("f", "ф"), ("h", "х"), ("c", "ц"),
    ("x", "кс"), ("y", "ы"),
]  # fmt: skip
_VOWELS = set("аеиоуыэюя")


@lru_cache(maxsize=50_000)
def from_translit(word: str) -> str | None:
    """The Cyrillic reading of a folded Latin word, or None when it has other letters.

    "i" and "y" after a vowel and before a consonant or the end read as «й» («zaiti» → «зайти»).
    """
    if not word.isascii() or not word.isalpha():
        return None
    out: list[str] = []
    i = 0
    while i < len(word):
        for latin, cyrillic in _TRANSLIT:
            if word.startswith(latin, i):
                nxt = word[i + len(latin) : i + len(latin) + 1]
                if latin in ("i", "y") and out and out[-1] in _VOWELS and (not nxt or nxt not in "aeiouy"):
                    cyrillic = "й"
                out.append(cyrillic)
                i += len(latin)
                break
    return "".join(out)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The stem of one folded word, by the stemmer of its script; numbers stay as they are."""
    language = script_of(word)
    if language is None:
        return word
    stemmed: str = _STEMMERS[language].stemWord(word)
    return stemmed


def stems(text: str) -> list[str]:
    """Every word of the text, stemmed, in order."""
    return [stem(word) for word in words(text)]


def content_words(text: str) -> list[str]:
    """Folded words without stop words."""
    return [word for word in words(text) if word not in STOPWORDS]


def stemmed_text(parts: Iterable[str]) -> str:
    """The stems of several texts as one space-separated string, the form the index stores."""
    return " ".join(stem for part in parts for stem in stems(part))
