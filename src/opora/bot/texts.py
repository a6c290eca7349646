"""What the bot says to customers, in Russian and English. Pure: no database, no clock.

These are messages to customers, not UI labels, so they live here in both languages rather than
in the agent UI's catalogs; the customer's language decides (anything but ``en`` is Russian,
as in the auto-acknowledgement).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opora.bot.flow import NO, REPLY_PREFIX, YES, Reason
from opora.kit.placeholders import render

# Channels that show buttons under a message; elsewhere the customer answers in words.
BUTTON_CHANNELS = frozenset({"webchat", "telegram"})
SHORT_TEXT = 300


def lang(language: str | None) -> str:
    return "en" if language == "en" else "ru"


_TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "did_it_help": "Это помогло?",
        "answer_hint": "Ответьте «да» или «нет».",
        "yes": "Да",
        "no": "Нет",
        "rephrase": "Извините, я не совсем понял вопрос. Можете сформулировать его иначе?",
        "ask_order": "Пришлите, пожалуйста, номер заказа — например, 100245.",
        "order_not_found": "Я не нашёл заказ {number} среди ваших заказов.",
        "handoff": "Передаю ваш вопрос сотруднику поддержки — он ответит {when}.",
        "handoff_asap": "как только сможет",
        "resolved": "Рад, что смог помочь! Если появится ещё вопрос — просто напишите.",
        "order": "Заказ {number}: {status}.",
        "delivery": "Доставка: {method}.",
        "tracking": "Трек-номер: {number}",
        "read_more": "Подробнее: {link}",
        "note": "Бот передал разговор: {reason}. Намерение: {intent}, уверенность {confidence}.",
        "note_none": "не определено",
    },
    "en": {
        "did_it_help": "Did this help?",
        "answer_hint": "Reply “yes” or “no”.",
        "yes": "Yes",
        "no": "No",
        "rephrase": "Sorry, I did not quite understand. Could you put your question in other words?",
        "ask_order": "Please send me your order number, for example 100245.",
        "order_not_found": "I could not find order {number} among your orders.",
        "handoff": "I am passing your question to a person from our support team; they will answer {when}.",
        "handoff_asap": "as soon as they can",
        "resolved": "Glad I could help! If you have another question, just write.",
        "order": "Order {number}: {status}.",
        "delivery": "Delivery: {method}.",
        "tracking": "Tracking number: {number}",
        "read_more": "Read more: {link}",
        "note": "The bot handed the conversation over: {reason}. Intent: {intent}, confidence {confidence}.",
        "note_none": "none",
    },
}

ORDER_STATUS: dict[str, dict[str, str]] = {
    "ru": {
        "new": "принят",
        "paid": "оплачен",
        "processing": "собирается",
        "shipped": "отправлен",
        "delivered": "доставлен",
        "completed": "выполнен",
        "cancelled": "отменён",
        "returned": "возвращён",
    },
    "en": {
        "new": "received",
        "paid": "paid",
        "processing": "being prepared",
        "shipped": "shipped",
        "delivered": "delivered",
        "completed": "completed",
        "cancelled": "cancelled",
        "returned": "returned",
    },
}

REASONS: dict[str, dict[Reason, str]] = {
    "ru": {
        Reason.HANDOFF_INTENT: "клиент просит человека",
        Reason.NOT_HELPED: "ответ не помог",
        Reason.UNSURE: "бот не понял вопрос дважды",
        Reason.OUT_OF_SCOPE: "вопрос не по теме бота",
        Reason.NO_ANSWER: "у намерения нет ответа",
        Reason.NO_ORDER_NUMBER: "клиент не прислал номер заказа",
        Reason.ORDER_NOT_FOUND: "заказ не найден среди заказов клиента",
        Reason.NO_MODEL: "нет обученной модели",
        Reason.BOT_ERROR: "ошибка бота",
        Reason.AGENT_REPLIED: "ответил сотрудник",
    },
    "en": {
        Reason.HANDOFF_INTENT: "the customer asks for a person",
        Reason.NOT_HELPED: "the answer did not help",
        Reason.UNSURE: "the bot did not understand twice",
        Reason.OUT_OF_SCOPE: "the question is outside the bot's scope",
        Reason.NO_ANSWER: "the intent has no answer",
        Reason.NO_ORDER_NUMBER: "the customer sent no order number",
        Reason.ORDER_NOT_FOUND: "the order is not among the customer's orders",
        Reason.NO_MODEL: "no trained model",
        Reason.BOT_ERROR: "bot error",
        Reason.AGENT_REPLIED: "an agent replied",
    },
}


def text(language: str, key: str, **values: str) -> str:
    return _TEXTS[lang(language)][key].format(**values)


@dataclass(frozen=True, slots=True)
class Reply:
    """One bot message: its text and, on channels with buttons, the quick replies."""

    text: str
    quick_replies: tuple[tuple[str, str], ...] = ()  # (label, payload)


def with_feedback(body: str, language: str, channel_type: str) -> Reply:
    """An answer followed by "did this help?": buttons where the channel has them, words elsewhere."""
    question = text(language, "did_it_help")
    if channel_type in BUTTON_CHANNELS:
        buttons = ((text(language, "yes"), REPLY_PREFIX + YES), (text(language, "no"), REPLY_PREFIX + NO))
        return Reply(f"{body}\n\n{question}", buttons)
    return Reply(f"{body}\n\n{question} {text(language, 'answer_hint')}")


def short(body: str, limit: int = SHORT_TEXT) -> str:
    body = " ".join(body.split())
    if len(body) <= limit:
        return body
    cut = body.rfind(" ", 0, limit)
    return body[: cut if cut > 0 else limit].rstrip(" ,.;:") + "…"


def article_answer(language: str, title: str, body_text: str, link: str) -> str:
    return f"{title}\n{short(body_text)}\n{text(language, 'read_more', link=link)}"


def template_answer(template: str, values: Mapping[str, str | None]) -> str:
    return render(template, values).strip()


def order_values(
    language: str, *, number: str, status: str, delivery_method: str, tracking_number: str, tracking_url: str
) -> dict[str, str | None]:
    status_word = ORDER_STATUS[lang(language)].get(status, status)
    return {
        "order.number": number,
        "order.status": status_word,
        "order.delivery_method": delivery_method,
        "order.tracking_number": tracking_number,
        "order.tracking_url": tracking_url,
    }


def order_answer(language: str, template: str, values: Mapping[str, str | None]) -> str:
    """The intent's template when it has one, with the delivery and tracking the template does
    not already mention added below it, so the customer always learns all the shop knows."""
    lines = [
        template_answer(template, values)
        if template.strip()
        else text(language, "order", number=values["order.number"] or "", status=values["order.status"] or "")
    ]
    method, tracking, url = (
        values.get("order.delivery_method"),
        values.get("order.tracking_number"),
        values.get("order.tracking_url"),
    )
    if method and "order.delivery_method" not in template:
        lines.append(text(language, "delivery", method=method))
    if tracking and "order.tracking_number" not in template:
        lines.append(text(language, "tracking", number=tracking) + (f" — {url}" if url else ""))
    elif url and "order.tracking_url" not in template:
        lines.append(url)
    return "\n".join(lines)


def handoff(language: str, expected: str | None) -> str:
    return text(language, "handoff", when=expected or text(language, "handoff_asap"))


def agent_note(language: str, reason: Reason, intent: str | None, confidence: float | None) -> str:
    none = text(language, "note_none")
    return text(
        language,
        "note",
        reason=REASONS[lang(language)][reason],
        intent=intent or none,
        confidence=f"{confidence:.0%}" if confidence is not None else none,
    )
