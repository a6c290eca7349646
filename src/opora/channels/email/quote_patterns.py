"""Line patterns for quote headers, separators and signatures, Russian mail clients first.

Everything is matched against a *cleaned* line (no bidi marks, no NBSP, single spaces, no
leading "> "), so the patterns stay readable. Headers wrapped over two or three lines are joined
with a space before matching; that is why an address may show up as "< ivan@mail.ru >".
"""

from __future__ import annotations

import re

_I = re.IGNORECASE

# "ivan@mail.ru", "<ivan@mail.ru>", "< ivan@mail.ru >", "[mailto:ivan@mail.ru]"
_ADDR = r"[^\s<>()\[\]\"']+@[^\s<>()\[\]\"']+"
_TIME = r"\d{1,2}[:.]\d{2}"
_YEAR = r"(?:19|20)\d{2}"
_DATEISH = rf"(?:{_TIME}|{_YEAR}|\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}})"

# Verbs that end an attribution line: "... wrote:", "... написал(а):", "... a écrit :".
WROTE_VERBS = (
    "wrote", "writes", "schrieb", "a écrit", "ha scritto", "escreveu", "escribió", "napisał(a)",
    "napisała", "napisał", "schreef", "kirjoitti", "skrev", "írta", "napsal(a)", "napsal",
    "написал(а)", "написала", "написал", "пишет", "пише", "написав(ла)", "написав",
)  # fmt: skip


def ends_with_wrote(line: str) -> bool:
    """Does the line end with an attribution verb ("wrote:", "Zoho's "wrote ----")?

    A plain suffix test rather than a regex: it runs on every line of every mail.
    """
    tail = line.rstrip(" :-").lower()
    if not tail.endswith(WROTE_VERBS):
        return False
    for verb in WROTE_VERBS:
        if tail.endswith(verb):
            before = tail[: -len(verb)]
            return not before or not before[-1].isalpha()
    return False


# Without a verb: Gmail/Yandex/Mail.ru in Russian end the attribution with the address and ":".
#   "пн, 23 нояб. 2026 г. в 12:00, Иван <a@b.ru>:"  "23.11.2026, 12:00, "Имя" <a@b.ru>:"
#   "Понедельник, 23 ноября 2026, 12:00 +03:00 от Имя <a@b.ru>:"
ADDRESS_COLON_LINE = re.compile(rf"^.{{0,300}}?[<(\[]?\s*(?:mailto:)?{_ADDR}\s*[>)\]]?\s*:\s*$", _I)
DATEISH = re.compile(_DATEISH)
HAS_ADDRESS = re.compile(_ADDR)

# Lines that open an attribution, used to decide where a wrapped header starts, so that a
# sentence just above a header is never swallowed into it.
_RU_DAYS = r"пн|вт|ср|чт|пт|сб|вс|понедельник|вторник|среда|четверг|пятница|суббота|воскресенье"
_EN_DAYS = r"mon|tue|wed|thu|fri|sat|sun"
HEADER_OPENER = re.compile(
    rf"^(?:on\s|le\s|am\s|el\s|em\s|il\s|in data\s|op\s|den\s|dne\s|w dniu\s|dnia\s|-{{2,}}\s*on\s"
    rf"|\d|(?:{_RU_DAYS}|{_EN_DAYS})[a-zа-я]*\.?,?\s|[^\W\d]{{1,4}}\.?,?\s+\d|{_ADDR})",
    _I,
)

# "-----Original Message-----", "-------- Пересылаемое сообщение --------", "Begin forwarded message:"
_SEPARATOR_WORDS = (
    r"original message|исходное сообщение|оригинальное сообщение|пересылаемое сообщение"
    r"|пересланное сообщение|перенаправленное сообщение|forwarded message|begin forwarded message"
    r"|начало переадресованного сообщения|ursprüngliche nachricht|weitergeleitete nachricht"
    r"|message d'origine|message transféré|messaggio originale|messaggio inoltrato|mensaje original"
    r"|mensaje reenviado|mensagem original|oorspronkelijk bericht|doorgestuurd bericht"
    r"|oprindelig besked|original meddelelse|opprinnelig melding|ursprungligt meddelande"
    r"|alkuperäinen viesti|wiadomość oryginalna|původní zpráva|eredeti üzenet"
)
SEPARATOR_LINE = re.compile(rf"^[-_=*\s]*(?:{_SEPARATOR_WORDS})\s*:?[-_=*\s]*$", _I)
# A bare rule line ("______", "-----", "====") may stand just above a header block.
RULE_LINE = re.compile(r"^\s*(?:[-_=*]\s*){4,}$")

# Outlook-style header blocks: "От: ... / Отправлено: ... / Кому: ... / Тема: ...".
# Keys map to a category; a block needs two different categories in a row.
_HEADER_KEYS = {
    "from": r"from|от|von|de|da|van|fra|från|od|lähettäjä|feladó|message from",
    "date": r"sent|date|отправлено|дата|gesendet|datum|envoyé|envoyé le|enviado|enviada|inviato"
    r"|data|wysłano|verzonden|sendt|skickat|lähetetty|dato|message du|odesláno|elküldve",
    "to": r"to|кому|an|à|a|para|aan|til|till|do|vastaanottaja|komu|címzett",
    "subject": r"subject|тема|betreff|objet|oggetto|assunto|asunto|temat|onderwerp|emne|ämne|aihe"
    r"|předmět|tárgy|sujet",
    "cc": r"cc|копия|kopie|copie à|copia|kopia|kopio|másolat",
}
HEADER_KEY = re.compile(
    r"^[*\s]*(?P<key>" + "|".join(f"(?:{v})" for v in _HEADER_KEYS.values()) + r")\s*[*]?\s*:\s*[*]?",
    _I,
)
_KEY_CATEGORY = {
    word: category for category, words in _HEADER_KEYS.items() for word in words.replace("\\", "").split("|")
}


def header_category(line: str) -> str | None:
    match = HEADER_KEY.match(line)
    if not match:
        return None
    return _KEY_CATEGORY.get(re.sub(r"\s+", " ", match.group("key").lower()))


# Signature delimiters: RFC 3676 "-- ", its mangled forms, and list-footer underscores.
SIGNATURE_DELIMITER = re.compile(r"^(?:--|—|–|_{2,})\s*$")
# Phone and webmail footers; short lines only, so "Sent from my desk, is much easier" stays text.
MOBILE_FOOTER = re.compile(
    r"^(?:sent from|sent with|sent via|sent using|get outlook for|envoyé de|envoyé depuis"
    r"|envoyé à partir de|gesendet von|von meinem|inviato da|enviado desde|enviado do|verzonden vanaf"
    r"|verzonden met|lähetetty|skickat från|sendt fra|wysłane z|odesláno z"
    r"|отправлено (?:с|со|из|через)|отправлено из мобильной|послано с|с уважением, отправлено с)\b"
    r"[^,;]{0,60}$",
    _I,
)
# Sign-offs that open a signature when a name (or a few short lines) follows them. The optional
# name on the same line must be capitalised, so "Спасибо, работает" stays part of the reply.
SIGN_OFF = re.compile(
    r"^(?i:с уважением|с наилучшими пожеланиями|всего (?:доброго|хорошего)|хорошего дня|с благодарностью"
    r"|заранее (?:спасибо|благодарю)|спасибо|благодарю|искренне ваш[а]?|best regards|kind regards"
    r"|warm regards|regards|best wishes|best|cheers|thanks|thank you|many thanks|thanks again"
    r"|sincerely|yours sincerely|yours truly|all the best|with best regards|take care|br"
    r"|mit freundlichen grüßen|viele grüße|cordialement|bien à vous|saludos|cordiali saluti)"
    r"(?P<name>[\s,]+[A-ZА-ЯЁ][\w.\-]*(?:\s[A-ZА-ЯЁ][\w.\-]*){0,2})?[^\w]*$"
)
