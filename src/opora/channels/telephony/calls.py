"""Call events as plain data, read from the generic JSON shape or from Zadarma's webhooks, and
the words a call becomes in a ticket. Pure functions: no I/O, no clock."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from opora.channels.base import UnparseablePayload


class CallEvent(StrEnum):
    ANSWERED = "answered"
    MISSED = "missed"
    VOICEMAIL = "voicemail"


@dataclass(frozen=True)
class Call:
    call_id: str
    event: CallEvent
    caller: str  # raw; the customers module normalises it to E.164
    called: str = ""
    caller_name: str | None = None
    started_at: datetime | None = None
    duration: int = 0  # seconds of conversation (or of the voicemail)
    recording_url: str | None = None
    agent: str | None = None

    @property
    def key(self) -> str:
        """One stored message per call and event, however often the PBX repeats itself."""
        return f"call:{self.call_id}:{self.event}"[:500]

    def as_metadata(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "event": str(self.event),
            "caller": self.caller,
            "called": self.called,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "duration": self.duration,
            "recording_url": self.recording_url,
            "agent": self.agent,
        }

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> Call:
        started = data.get("started_at")
        return cls(
            call_id=str(data.get("call_id", "")),
            event=CallEvent(str(data.get("event", "answered"))),
            caller=str(data.get("caller", "")),
            called=str(data.get("called") or ""),
            started_at=datetime.fromisoformat(started) if isinstance(started, str) else None,
            duration=int(data.get("duration") or 0),
            recording_url=data.get("recording_url") or None,
            agent=data.get("agent") or None,
        )


# -- the generic JSON shape ----------------------------------------------------------------------


def parse_generic(payload: bytes) -> Call | None:
    """``{"call_id", "event", "caller", ...}`` (docs/channel-telephony.md); None for outbound calls,
    which are not customer messages."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnparseablePayload(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UnparseablePayload("the call event must be a JSON object")
    if str(data.get("direction") or "inbound").lower() not in ("inbound", "in", "incoming"):
        return None
    try:
        event = CallEvent(str(data.get("event", "")).lower())
    except ValueError:
        raise UnparseablePayload("'event' must be answered, missed or voicemail") from None
    return Call(
        call_id=_required(data, "call_id"),
        event=event,
        caller=_required(data, "caller"),
        called=_text(data.get("called")),
        caller_name=_text(data.get("caller_name")) or None,
        started_at=_iso(data.get("started_at")),
        duration=_seconds(data.get("duration")),
        recording_url=_url(data.get("recording_url")),
        agent=_text(data.get("agent")) or None,
    )


# -- Zadarma -------------------------------------------------------------------------------------

# Which fields Zadarma concatenates for the HMAC-SHA1 ``Signature`` header of each notification.
ZADARMA_SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}


def form_fields(payload: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(payload.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise UnparseablePayload(f"not a form: {exc}") from exc


def zadarma_signed_string(fields: Mapping[str, str]) -> str | None:
    names = ZADARMA_SIGNED_FIELDS.get(fields.get("event", ""))
    return None if names is None else "".join(fields.get(name, "") for name in names)


def parse_zadarma(
    fields: Mapping[str, str], *, timezone: str = "Europe/Moscow", recording_url_template: str | None = None
) -> Call | None:
    """NOTIFY_END (an incoming call finished) is the one notification that describes a whole call;
    the others are progress reports and carry nothing the ticket needs."""
    if fields.get("event") != "NOTIFY_END":
        return None
    disposition = fields.get("disposition", "").strip().lower()
    recorded = fields.get("is_recorded") == "1" and fields.get("call_id_with_rec")
    recording = None
    if recorded and recording_url_template:
        recording = _url(recording_url_template.replace("{call_id_with_rec}", fields["call_id_with_rec"]))
    return Call(
        call_id=_required(fields, "pbx_call_id"),
        event=CallEvent.ANSWERED if disposition == "answered" else CallEvent.MISSED,
        caller=_required(fields, "caller_id"),
        called=fields.get("called_did", ""),
        started_at=_local(fields.get("call_start"), timezone),
        duration=_seconds(fields.get("duration")),
        recording_url=recording,
        agent=fields.get("internal") or None,
    )


# -- words ---------------------------------------------------------------------------------------

_TEXTS = {
    "ru": {
        CallEvent.ANSWERED: "Входящий звонок от {caller}: принят{agent}, длительность {duration}.",
        CallEvent.MISSED: "Пропущенный звонок от {caller}. Перезвоните клиенту.",
        CallEvent.VOICEMAIL: "Голосовое сообщение от {caller}, длительность {duration}.",
        "recording": "Запись разговора",
        "agent": " (сотрудник {agent})",
        "subject_" + CallEvent.ANSWERED: "Звонок от {caller}",
        "subject_" + CallEvent.MISSED: "Перезвонить: {caller}",
        "subject_" + CallEvent.VOICEMAIL: "Голосовое сообщение от {caller}",
        "min": "{m} мин {s} с",
        "sec": "{s} с",
    },
    "en": {
        CallEvent.ANSWERED: "Incoming call from {caller}: answered{agent}, duration {duration}.",
        CallEvent.MISSED: "Missed call from {caller}. Please call the customer back.",
        CallEvent.VOICEMAIL: "Voicemail from {caller}, duration {duration}.",
        "recording": "Call recording",
        "agent": " (agent {agent})",
        "subject_" + CallEvent.ANSWERED: "Call from {caller}",
        "subject_" + CallEvent.MISSED: "Call back: {caller}",
        "subject_" + CallEvent.VOICEMAIL: "Voicemail from {caller}",
        "min": "{m} min {s} s",
        "sec": "{s} s",
    },
}


def language_of(value: object) -> str:
    return value if isinstance(value, str) and value in _TEXTS else "ru"


def subject(call: Call, language: str) -> str:
    return _TEXTS[language_of(language)]["subject_" + call.event].format(caller=call.caller)


def summary(call: Call, language: str) -> tuple[str, str]:
    """The message's text and HTML; the recording stays a link, never a downloaded file."""
    words = _TEXTS[language_of(language)]
    minutes, seconds = divmod(call.duration, 60)
    duration = words["min"].format(m=minutes, s=seconds) if minutes else words["sec"].format(s=seconds)
    agent = words["agent"].format(agent=call.agent) if call.agent else ""
    line = words[call.event].format(caller=call.caller, duration=duration, agent=agent)
    if not call.recording_url:
        return line, f"<p>{_escape(line)}</p>"
    text = f"{line}\n{words['recording']}: {call.recording_url}"
    link = f'<a href="{_escape(call.recording_url)}">{_escape(words["recording"])}</a>'
    return text, f"<p>{_escape(line)}</p><p>{link}</p>"


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# -- field readers -------------------------------------------------------------------------------


def _required(data: Mapping[str, Any], name: str) -> str:
    value = _text(data.get(name))
    if not value:
        raise UnparseablePayload(f"'{name}' is missing")
    return value


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise UnparseablePayload(f"expected text, got {type(value).__name__}")
    return value.strip()[:300]


def _seconds(value: object) -> int:
    try:
        seconds = int(str(value or 0).strip())
    except ValueError:
        raise UnparseablePayload(f"'duration' must be whole seconds, got {value!r}") from None
    return max(0, min(seconds, 7 * 24 * 3600))


def _iso(value: object) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise UnparseablePayload(f"'started_at' is not an ISO 8601 time: {value!r}") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _local(value: str | None, timezone: str) -> datetime | None:
    # Zadarma sends "2026-11-23 12:00:00" in the account's time zone.
    if not value:
        return None
    try:
        parsed = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return parsed.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _url(value: object) -> str | None:
    if not value:
        return None
    url = str(value).strip()
    parts = urlsplit(url)
    # Only a link an agent can open; anything else (javascript:, data:) is dropped.
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        return None
    return url
