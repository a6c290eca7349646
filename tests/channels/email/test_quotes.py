"""split_reply on the quote headers and signatures of the mail clients our customers use."""

from __future__ import annotations

import pytest

from opora.channels.email import split_reply

REPLY = "Здравствуйте!\n\nЗаказ 1234 так и не пришёл, проверьте, пожалуйста."
QUOTED_BODY = "> Добрый день! Ваш заказ отправлен.\n> Служба поддержки"
# Outlook and forwards quote the previous mail without "> ".
UNQUOTED_BODY = "Добрый день! Ваш заказ отправлен.\nСлужба поддержки"

HEADERS = {
    "gmail-ru": "пн, 23 нояб. 2026 г. в 12:00, Иван <a@b.ru>:",
    "gmail-ru-wrote": "23 ноября 2026 г., в 12:00, Магазин <support@shop.ru> написал(а):",
    "gmail-ru-wrapped-address": "пн, 23 нояб. 2026 г. в 12:00, Служба поддержки магазина <\nsupport@shop.ru>:",
    "gmail-ru-wrapped-verb": "23 ноября 2026 г., в 12:00, Служба поддержки магазина <support@shop.ru>\nнаписал(а):",
    "yandex": '23.11.2026, 12:00, "Имя" <a@b.ru>:',
    "yandex-wrapped": '23.11.2026, 12:00, "Служба поддержки магазина"\n<support@shop.ru>:',
    "yandex-forward": '-------- Пересылаемое сообщение --------\n23.11.2026, 12:00, "Магазин" <support@shop.ru>:',
    "mailru": "Понедельник, 23 ноября 2026, 12:00 +03:00 от Имя <a@b.ru>:",
    "mailru-long-name": "Понедельник, 23 ноября 2026, 12:00 +03:00 от Служба поддержки <support@shop.ru>:",
    "apple-mail-ru": "23 нояб. 2026 г., в 12:00, Имя <a@b.ru> написал(а):",
    "outlook-ru-original": (
        "-----Original Message-----\nОт: Магазин [mailto:support@shop.ru]\n"
        "Отправлено: 23 ноября 2026 г. 12:00\nКому: Иван\nТема: RE: Заказ 1234"
    ),
    "outlook-ru-ishodnoe": (
        "-----Исходное сообщение-----\nОт: Магазин [mailto:support@shop.ru]\n"
        "Отправлено: 23 ноября 2026 г. 12:00\nКому: Иван\nТема: RE: Заказ 1234"
    ),
    "outlook-ru-block": (
        "От: Магазин <support@shop.ru>\nОтправлено: 23 ноября 2026 г. 12:00\nКому: Иван <ivan@mail.ru>\n"
        "Тема: RE: Заказ 1234"
    ),
    "outlook-ru-underscores": (
        "________________________________\nОт: Магазин <support@shop.ru>\n"
        "Отправлено: понедельник, 23 ноября 2026 г. 12:00\nКому: Иван <ivan@mail.ru>\nТема: RE: Заказ 1234"
    ),
    "outlook-ru-date-key": "От: Магазин <support@shop.ru>\nДата: 23 ноября 2026 г., 12:00\nТема: Заказ 1234",
    "gmail-en": "On Mon, Nov 23, 2026 at 12:00 PM Shop Support <support@shop.com> wrote:",
    "gmail-en-wrapped": "On Mon, Nov 23, 2026 at 12:00 PM Shop Support <\nsupport@shop.com> wrote:",
    "apple-en": "On 23 Nov 2026, at 12:00, Shop Support <support@shop.com> wrote:",
    "outlook-en-original": (
        "-----Original Message-----\nFrom: Shop [mailto:support@shop.ru]\n"
        "Sent: Monday, November 23, 2026 12:00 PM\nTo: Ivan\nSubject: RE: Order 1234"
    ),
    "outlook-en-block": (
        "From: Shop <support@shop.com>\nSent: Monday, November 23, 2026 12:00 PM\nTo: Ivan\nSubject: RE: Order 1234"
    ),
    "gmail-en-forward": (
        "---------- Forwarded message ---------\nFrom: Shop <support@shop.com>\n"
        "Date: Mon, Nov 23, 2026 at 12:00 PM\nSubject: Order 1234\nTo: <ivan@mail.ru>"
    ),
}


@pytest.mark.parametrize("body", [QUOTED_BODY, UNQUOTED_BODY], ids=["quoted", "unquoted"])
@pytest.mark.parametrize("spacing", ["\n\n", "\n"], ids=["blank-line", "no-blank-line"])
@pytest.mark.parametrize("client", list(HEADERS))
def test_quote_headers_of_each_client(client: str, spacing: str, body: str) -> None:
    header = HEADERS[client]
    split = split_reply(f"{REPLY}{spacing}{header}\n{body}\n")
    assert split.reply == REPLY
    assert split.signature == ""
    assert split.quoted == f"{header}\n{body}"


SIGNATURES = [
    "-- \nИван Петров\n+7 900 000-00-00",
    "--\nИван",
    "С уважением,\nИван Петров",
    "С уважением,\n\nИван Петров\nООО «Ромашка»\nтел. +7 495 000-00-00",
    "С уважением, Иван",
    "С наилучшими пожеланиями,\nАнна",
    "Спасибо,\nИван",
    "Sent from my iPhone",
    "Отправлено с iPhone",
    "Отправлено с моего iPhone",
    "Отправлено из мобильной Почты Mail.ru",
    "Отправлено из мобильной Яндекс.Почты",
    "Отправлено из мобильной Яндекс Почты",
    "Отправлено с мобильного устройства",
    "Get Outlook for Android",
    "Best regards,\nIvan Petrov\nACME LLC",
]


@pytest.mark.parametrize("signature", SIGNATURES)
def test_signatures_are_split_off(signature: str) -> None:
    text = f"{REPLY}\n\n{signature}\n\n{HEADERS['gmail-ru']}\n{QUOTED_BODY}"
    split = split_reply(text)
    assert split.reply == REPLY
    # The RFC 3676 delimiter "-- " loses its trailing space like every other line does.
    assert split.signature == "\n".join(line.rstrip() for line in signature.splitlines())
    assert split.quoted.startswith(HEADERS["gmail-ru"])


@pytest.mark.parametrize(
    "text",
    [
        "Спасибо, работает!",
        "Спасибо!",
        "Отправлено в понедельник, но так и не пришло.",
        "Sent from my desk, is much easier than my mobile phone.",
        "На сайте написано: доставка 23.11.2026, 12:00.\nНо курьер не приехал.",
        "В письме от 23.11.2026 вы написали:\nзаказ отправлен. Где он?",
        "Пишу вам с вопросом о заказе 1234.\nКогда доставка?",
        "От: вашего курьера ничего не слышно.\nТема: доставка.",
        "Рассрочка:\n- первый платёж\n- второй платёж\n\n----\n\nИтого 3 платежа.",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    split = split_reply(text)
    assert (split.reply, split.quoted, split.signature) == (text, "", "")


def test_quoted_only_block_without_header() -> None:
    split = split_reply(f"{REPLY}\n\n{QUOTED_BODY}\n")
    assert (split.reply, split.quoted) == (REPLY, QUOTED_BODY)


def test_inline_answers_keep_the_questions_they_answer() -> None:
    text = (
        f"{HEADERS['gmail-ru']}\n> Какой размер?\n\nРазмер M.\n\n> Какой цвет?\n\nСиний.\n\n"
        "С уважением,\nИван\n\n> --\n> Магазин"
    )
    split = split_reply(text)
    assert split.reply.startswith(HEADERS["gmail-ru"])
    assert "Размер M." in split.reply
    assert "Синий." in split.reply
    assert split.signature == "С уважением,\nИван"
    assert "Магазин" in split.quoted


def test_bottom_post_reply_is_the_text_below_the_quote() -> None:
    split = split_reply(f"{HEADERS['yandex']}\n{QUOTED_BODY}\n\nСпасибо, получил заказ.\n")
    assert split.reply == "Спасибо, получил заказ."
    assert split.quoted == f"{HEADERS['yandex']}\n{QUOTED_BODY}"


def test_pure_forward_shows_everything_by_default() -> None:
    text = f"{HEADERS['yandex-forward']}\n\nВаш заказ отправлен."
    split = split_reply(text)
    assert split.reply == ""
    assert split.visible == text


def test_sender_name_finds_an_undelimited_signature() -> None:
    text = f"{REPLY}\n\nИван Петров\nменеджер по закупкам\nООО «Ромашка»"
    assert split_reply(text).signature == ""
    split = split_reply(text, sender_name="Иван Петров")
    assert split.reply == REPLY
    assert split.signature.startswith("Иван Петров")


def test_crlf_bidi_marks_and_nbsp_do_not_hide_a_header() -> None:
    header = '\u200e23.11.2026,\u00a012:00, \u200f"Имя" <a@b.ru>:'
    text = f"{REPLY}\r\n\r\n{header}\r\n> старое\r\n".replace("\n", "\r\n").replace("\r\r\n", "\r\n")
    split = split_reply(text)
    assert split.reply == REPLY
    assert split.quoted.endswith("> старое")


def test_empty_and_whitespace_text() -> None:
    assert split_reply("") == split_reply("\n \n")
    assert split_reply("").reply == ""
