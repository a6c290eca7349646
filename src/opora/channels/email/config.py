"""An email channel's settings, read once from the channel row and checked when an admin saves them.

Settings (plain JSON on the channel): ``address`` (required; our From and the RCPT we accept),
``name`` (the From display name), ``reply_to``, ``aliases`` (more addresses we accept mail for),
``smtp_host`` / ``smtp_port`` / ``smtp_security`` / ``smtp_username`` / ``smtp_verify_tls`` for
replies, ``imap_host`` / ``imap_port`` / ``imap_security`` / ``imap_username`` / ``imap_folder`` /
``imap_processed_folder`` / ``imap_verify_tls`` for polling. Secrets (stored encrypted):
``smtp_password``, ``imap_password``, and ``webhook_token`` for pushing raw mail over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Security = Literal["ssl", "starttls", "none"]
SECURITIES: tuple[Security, ...] = ("ssl", "starttls", "none")
# The common ports tell which kind of TLS a server speaks when the admin did not say.
_SMTP_DEFAULTS: dict[Security, int] = {"ssl": 465, "starttls": 587, "none": 25}
_IMAP_DEFAULTS: dict[Security, int] = {"ssl": 993, "starttls": 143, "none": 143}
# Deliberately loose: the customer's or the admin's server decides what is deliverable; this only
# catches typos such as a missing "@" or spaces.
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
MAX_ALIASES = 50
MAX_IMAP_BATCH = 1000
DEFAULT_IMAP_BATCH = 200


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    username: str | None
    password: str | None = field(repr=False)
    verify_tls: bool = True


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    # Move processed mail here instead of only flagging it seen; None keeps it in ``folder``.
    processed_folder: str | None = None
    verify_tls: bool = True
    batch: int = DEFAULT_IMAP_BATCH


@dataclass(frozen=True)
class EmailSettings:
    address: str
    name: str
    reply_to: str | None
    aliases: tuple[str, ...]
    smtp: SmtpServer | None
    imap: ImapServer | None
    webhook_token: str | None = field(default=None, repr=False)


def normalise_address(value: str) -> str:
    return value.strip().strip("<>").strip().lower()


def addresses_of(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The channel's own addresses, read leniently: a channel whose other settings are broken
    must still recognise its own mail and still receive."""
    aliases = settings.get("aliases")
    values = [settings.get("address"), *(aliases if isinstance(aliases, list) else [])]
    return tuple(dict.fromkeys(normalise_address(v) for v in values if isinstance(v, str) and v.strip()))


def is_address(value: str) -> bool:
    return bool(_ADDRESS.match(value)) and len(value) <= 320


def load(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> EmailSettings:
    """Read and check a channel's settings; ValueError names the first thing that is wrong."""
    address = _address(settings.get("address"), "address", required=True)
    assert address is not None
    aliases_raw = settings.get("aliases") or []
    if not isinstance(aliases_raw, list) or len(aliases_raw) > MAX_ALIASES:
        raise ValueError(f"'aliases' must be a list of at most {MAX_ALIASES} addresses")
    aliases = tuple(
        dict.fromkeys(a for a in (_address(v, "aliases", required=True) for v in aliases_raw) if a)
    )
    return EmailSettings(
        address=address,
        name=_text(settings.get("name"), "name") or "",
        reply_to=_address(settings.get("reply_to"), "reply_to", required=False),
        aliases=tuple(a for a in aliases if a != address),
        smtp=_smtp(settings, secrets, address),
        imap=_imap(settings, secrets, address),
        webhook_token=_text(secrets.get("webhook_token"), "webhook_token"),
    )


def check_config(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    """The registry's hook: refuse a channel that could neither receive nor reply correctly."""
    load(settings, secrets)


def _smtp(settings: Mapping[str, Any], secrets: Mapping[str, Any], address: str) -> SmtpServer | None:
    host = _text(settings.get("smtp_host"), "smtp_host")
    if not host:
        return None
    security = _security(settings.get("smtp_security"), settings.get("smtp_port"), "smtp", _SMTP_DEFAULTS)
    username = _text(settings.get("smtp_username"), "smtp_username")
    password = _text(secrets.get("smtp_password"), "smtp_password")
    if username and not password:
        raise ValueError("'smtp_username' is set but the secret 'smtp_password' is missing")
    # A password alone logs in as the channel address, the usual case for a shop mailbox.
    if password and not username:
        username = address
    return SmtpServer(
        host=host,
        port=_port(settings.get("smtp_port"), "smtp_port", _SMTP_DEFAULTS[security]),
        security=security,
        username=username,
        password=password,
        verify_tls=_flag(settings.get("smtp_verify_tls"), "smtp_verify_tls"),
    )


def _imap(settings: Mapping[str, Any], secrets: Mapping[str, Any], address: str) -> ImapServer | None:
    host = _text(settings.get("imap_host"), "imap_host")
    if not host:
        return None
    password = _text(secrets.get("imap_password"), "imap_password")
    if not password:
        raise ValueError("'imap_host' is set but the secret 'imap_password' is missing")
    security = _security(settings.get("imap_security"), settings.get("imap_port"), "imap", _IMAP_DEFAULTS)
    batch = settings.get("imap_batch", DEFAULT_IMAP_BATCH)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= MAX_IMAP_BATCH:
        raise ValueError(f"'imap_batch' must be a whole number from 1 to {MAX_IMAP_BATCH}")
    processed = _text(settings.get("imap_processed_folder"), "imap_processed_folder")
    folder = _text(settings.get("imap_folder"), "imap_folder") or "INBOX"
    if processed == folder:
        raise ValueError("'imap_processed_folder' must differ from 'imap_folder'")
    return ImapServer(
        host=host,
        port=_port(settings.get("imap_port"), "imap_port", _IMAP_DEFAULTS[security]),
        security=security,
        username=_text(settings.get("imap_username"), "imap_username") or address,
        password=password,
        folder=folder,
        processed_folder=processed,
        verify_tls=_flag(settings.get("imap_verify_tls"), "imap_verify_tls"),
        batch=batch,
    )


def _address(value: Any, name: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"'{name}' needs an email address")
        return None
    if not isinstance(value, str) or not _ADDRESS.match(normalise_address(value)):
        raise ValueError(f"'{name}' is not an email address: {value!r}")
    return normalise_address(value)


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or "\n" in value or "\r" in value or len(value) > 500:
        raise ValueError(f"'{name}' must be one line of text")
    return value.strip() or None


def _port(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValueError(f"'{name}' must be a port number from 1 to 65535")
    return value


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        raise ValueError(f"'{name}' must be true or false")
    return value


def _security(value: Any, port: Any, kind: str, defaults: Mapping[Security, int]) -> Security:
    if value is None:
        # Guess from a well-known port, else today's usual choice for that protocol.
        fallback: Security = "ssl" if kind == "imap" else "starttls"
        known = {p: s for s, p in defaults.items() if s != "none"}
        return known.get(port, fallback) if isinstance(port, int) else fallback
    for security in SECURITIES:
        if value == security:
            return security
    raise ValueError(f"'{kind}_security' must be one of {', '.join(SECURITIES)}")
