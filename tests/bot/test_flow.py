"""The bot's conversation as a pure state machine: every branch on plain values."""

from __future__ import annotations

import pytest

from opora.bot import flow, texts
from opora.bot.engine import Prediction
from opora.bot.flow import Action, IntentInfo, Reason, Step

ANSWERED = Prediction(
    intent="delivery", confidence=0.93, abstained=False, out_of_scope=False, model_version=3
)
UNSURE = Prediction(intent="delivery", confidence=0.41, abstained=True, out_of_scope=False, model_version=3)
OOS = Prediction(intent="refund", confidence=0.12, abstained=True, out_of_scope=True, model_version=3)
NO_MODEL = Prediction(intent=None, confidence=0.0, abstained=True, out_of_scope=False)
DELIVERY = IntentInfo("delivery", handoff=False, has_answer=True)
HUMAN = IntentInfo("human", handoff=True, has_answer=False)
ORDERS = IntentInfo("order_status", handoff=False, has_answer=True)
EMPTY = IntentInfo("promo", handoff=False, has_answer=False)


def test_answer_then_yes_resolves_and_no_hands_off() -> None:
    first = flow.decide(Step.QUESTION, rephrased=False, prediction=ANSWERED, intent=DELIVERY)
    assert (first.action, first.next_step) == (Action.ANSWER, Step.FEEDBACK)
    assert flow.decide(Step.FEEDBACK, rephrased=False, feedback=flow.YES).action == Action.RESOLVE
    no = flow.decide(Step.FEEDBACK, rephrased=False, feedback=flow.NO)
    assert (no.action, no.reason) == (Action.HAND_OFF, Reason.NOT_HELPED)


def test_abstaining_asks_to_rephrase_once_then_hands_off() -> None:
    first = flow.decide(Step.QUESTION, rephrased=False, prediction=UNSURE, intent=DELIVERY)
    assert (first.action, first.next_step) == (Action.ASK_REPHRASE, Step.REPHRASE)
    second = flow.decide(Step.REPHRASE, rephrased=True, prediction=UNSURE, intent=DELIVERY)
    assert (second.action, second.reason) == (Action.HAND_OFF, Reason.UNSURE)
    # A rephrased question the bot now understands is answered.
    third = flow.decide(Step.REPHRASE, rephrased=True, prediction=ANSWERED, intent=DELIVERY)
    assert third.action == Action.ANSWER


@pytest.mark.parametrize(
    ("prediction", "intent", "reason"),
    [
        (OOS, None, Reason.OUT_OF_SCOPE),
        (ANSWERED, HUMAN, Reason.HANDOFF_INTENT),
        (UNSURE, HUMAN, Reason.HANDOFF_INTENT),  # maybe asking for a person: give one
        (ANSWERED, EMPTY, Reason.NO_ANSWER),
        (ANSWERED, None, Reason.NO_ANSWER),
        (NO_MODEL, None, Reason.NO_MODEL),
    ],
)
def test_hand_off_at_once(prediction: Prediction, intent: IntentInfo | None, reason: Reason) -> None:
    decision = flow.decide(Step.QUESTION, rephrased=False, prediction=prediction, intent=intent)
    assert (decision.action, decision.reason, decision.ends) == (Action.HAND_OFF, reason, True)


def test_order_status_with_and_without_a_number() -> None:
    with_number = flow.decide(
        Step.QUESTION, rephrased=False, prediction=ANSWERED, intent=ORDERS, order_numbers=("10045",)
    )
    assert (with_number.action, with_number.order_number) == (Action.LOOK_UP_ORDER, "10045")
    asked = flow.decide(Step.QUESTION, rephrased=False, prediction=ANSWERED, intent=ORDERS)
    assert (asked.action, asked.next_step) == (Action.ASK_ORDER_NUMBER, Step.ORDER_NUMBER)
    given = flow.decide(Step.ORDER_NUMBER, rephrased=False, order_numbers=("10045",))
    assert given.action == Action.LOOK_UP_ORDER
    # Asked once: no number again goes to a person.
    assert flow.decide(Step.ORDER_NUMBER, rephrased=False).reason == Reason.NO_ORDER_NUMBER
    assert flow.after_lookup(True).next_step == Step.FEEDBACK
    assert flow.after_lookup(False).reason == Reason.ORDER_NOT_FOUND


@pytest.mark.parametrize(
    ("text", "payload", "expected"),
    [
        ("да", None, "yes"),
        ("Да, спасибо!", None, "yes"),
        ("Yes", None, "yes"),
        ("нет", None, "no"),
        ("Нет, не помогло", None, "no"),
        ("не помогло", None, "no"),
        ("no", None, "no"),
        ("👍", None, "yes"),
        ("Нет", "bot:yes", "yes"),  # the button pressed wins over any text
        ("", "bot:no", "no"),
        ("а сколько стоит доставка в Казань?", None, None),
        ("where is my order", None, None),
    ],
)
def test_feedback_words_and_buttons(text: str, payload: str | None, expected: str | None) -> None:
    assert flow.parse_feedback(text, payload) == expected


def test_a_new_question_instead_of_yes_or_no_is_classified() -> None:
    assert flow.needs_classification(Step.FEEDBACK, None)
    assert not flow.needs_classification(Step.FEEDBACK, "yes")
    assert not flow.needs_classification(Step.ORDER_NUMBER, None)
    assert flow.needs_classification(Step.REPHRASE, None)


def test_feedback_question_has_buttons_only_where_the_channel_shows_them() -> None:
    chat = texts.with_feedback("Доставка 1–2 дня.", "ru", "telegram")
    assert chat.text.endswith("Это помогло?") and chat.quick_replies == (("Да", "bot:yes"), ("Нет", "bot:no"))
    vk = texts.with_feedback("Delivery takes 1–2 days.", "en", "vk")
    assert vk.quick_replies == () and vk.text.endswith("Did this help? Reply “yes” or “no”.")


def test_order_answer_adds_delivery_and_tracking_the_template_leaves_out() -> None:
    values = texts.order_values(
        "ru",
        number="10045",
        status="shipped",
        delivery_method="СДЭК",
        tracking_number="CD123",
        tracking_url="https://track.test/CD123",
    )
    body = texts.order_answer("ru", "Заказ {{order.number}}: {{order.status}}.", values)
    assert body.splitlines() == [
        "Заказ 10045: отправлен.",
        "Доставка: СДЭК.",
        "Трек-номер: CD123 — https://track.test/CD123",
    ]
    assert (
        texts.order_answer(
            "en",
            "",
            texts.order_values(
                "en", number="7", status="new", delivery_method="", tracking_number="", tracking_url=""
            ),
        )
        == "Order 7: received."
    )


def test_handoff_promise_and_agent_note() -> None:
    assert texts.handoff("ru", "в течение 2 часов").endswith("он ответит в течение 2 часов.")
    assert texts.handoff("en", None).endswith("they will answer as soon as they can.")
    note = texts.agent_note("en", Reason.NOT_HELPED, "delivery", 0.934)
    assert "the answer did not help" in note and "delivery" in note and "93%" in note
