"""The bot's side of a conversation as a pure state machine: plain data in, a decision out.

The service (:mod:`opora.bot.conversation`) reads the message, classifies it when
:func:`needs_classification` says so, asks :func:`decide` what to do, looks an order up when
told to and asks :func:`after_lookup`, then writes the outcome. Nothing here touches the
database, the model or the clock, so every branch is tested on plain values.

A conversation waits for one of four things (:class:`Step`): a question, the same question in
other words (asked once), an order number (asked once), or the answer to "did this help?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from opora.bot.engine import Prediction

ORDER_STATUS_INTENT = "order_status"
YES = "yes"
NO = "no"
# Payloads of the "did this help?" buttons (Telegram callback_data, widget clicks).
REPLY_PREFIX = "bot:"


class Step(StrEnum):
    QUESTION = "question"
    REPHRASE = "rephrase"
    ORDER_NUMBER = "order_number"
    FEEDBACK = "feedback"


class Reason(StrEnum):
    """Why the bot handed off; stored on the conversation and in the ``bot_handoff`` event."""

    HANDOFF_INTENT = "handoff_intent"  # "I want a person"
    NOT_HELPED = "not_helped"  # "did this help?" -> no
    UNSURE = "unsure"  # abstained twice
    OUT_OF_SCOPE = "out_of_scope"
    NO_ANSWER = "no_answer"  # an intent with neither a reply nor an article
    NO_ORDER_NUMBER = "no_order_number"
    ORDER_NOT_FOUND = "order_not_found"  # unknown, or another customer's
    NO_MODEL = "no_model"
    BOT_ERROR = "bot_error"
    AGENT_REPLIED = "agent_replied"


class Action(StrEnum):
    ANSWER = "answer"  # the intent's reply or article, then "did this help?"
    LOOK_UP_ORDER = "look_up_order"
    ASK_ORDER_NUMBER = "ask_order_number"
    ASK_REPHRASE = "ask_rephrase"
    HAND_OFF = "hand_off"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class IntentInfo:
    key: str
    handoff: bool
    has_answer: bool  # a reply template or a knowledge-base article


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: Reason | None = None
    order_number: str | None = None
    next_step: Step = Step.QUESTION

    @property
    def ends(self) -> bool:
        return self.action in (Action.HAND_OFF, Action.RESOLVE)


def hand_off(reason: Reason) -> Decision:
    return Decision(Action.HAND_OFF, reason=reason)


_WORD = re.compile(r"[\w']+|👍|👎")
_YES_WORDS = frozenset({"да", "yes", "y", "ага", "угу", "yep", "yeah", "помогло", "спасибо", "thanks", "👍"})
_NO_WORDS = frozenset({"нет", "no", "n", "nope", "неа", "👎"})
_NOT = frozenset({"не", "not", "didn't", "didnt"})
# A longer message is a new question rather than an answer to "did this help?".
_FEEDBACK_WORDS = 5


def parse_feedback(text: str, quick_reply: str | None = None) -> str | None:
    """``yes``, ``no`` or None from a button payload or a short text answer (ru/en)."""
    if quick_reply in (REPLY_PREFIX + YES, REPLY_PREFIX + NO):
        return quick_reply.removeprefix(REPLY_PREFIX)
    words = _WORD.findall(text.lower())
    if not words or len(words) > _FEEDBACK_WORDS:
        return None
    if words[0] in _NO_WORDS or (words[0] in _NOT and len(words) > 1):
        return NO
    if words[0] in _YES_WORDS:
        return YES
    return None


def needs_classification(step: Step, feedback: str | None) -> bool:
    """Questions are classified; an order number or a yes/no answer is not."""
    if step == Step.ORDER_NUMBER:
        return False
    return not (step == Step.FEEDBACK and feedback is not None)


def decide(
    step: Step,
    *,
    rephrased: bool,
    feedback: str | None = None,
    order_numbers: tuple[str, ...] = (),
    prediction: Prediction | None = None,
    intent: IntentInfo | None = None,
) -> Decision:
    """What to do with one customer message. ``intent`` is the predicted intent's row."""
    if step == Step.FEEDBACK and feedback is not None:
        return Decision(Action.RESOLVE) if feedback == YES else hand_off(Reason.NOT_HELPED)
    if step == Step.ORDER_NUMBER:
        if order_numbers:
            return Decision(Action.LOOK_UP_ORDER, order_number=order_numbers[0])
        return hand_off(Reason.NO_ORDER_NUMBER)
    if prediction is None or prediction.model_version is None:
        return hand_off(Reason.NO_MODEL)
    if intent is not None and intent.handoff and not prediction.out_of_scope:
        # Someone who may be asking for a person gets one, even when the bot is not sure.
        return hand_off(Reason.HANDOFF_INTENT)
    if prediction.abstained:
        if prediction.out_of_scope:
            return hand_off(Reason.OUT_OF_SCOPE)
        if rephrased:
            return hand_off(Reason.UNSURE)
        return Decision(Action.ASK_REPHRASE, next_step=Step.REPHRASE)
    if intent is None:
        return hand_off(Reason.NO_ANSWER)
    if intent.key == ORDER_STATUS_INTENT:
        if order_numbers:
            return Decision(Action.LOOK_UP_ORDER, order_number=order_numbers[0])
        return Decision(Action.ASK_ORDER_NUMBER, next_step=Step.ORDER_NUMBER)
    if not intent.has_answer:
        return hand_off(Reason.NO_ANSWER)
    return Decision(Action.ANSWER, next_step=Step.FEEDBACK)


def after_lookup(found: bool) -> Decision:
    """An order of this customer is answered; anything else (unknown, or someone else's order,
    which the customer must not learn about) goes to a person."""
    if found:
        return Decision(Action.ANSWER, next_step=Step.FEEDBACK)
    return hand_off(Reason.ORDER_NOT_FOUND)
