"""Settings read from ``OPORA_*`` environment variables (and an optional ``.env`` file)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "secret.key"
# The values of ``bot_encoder`` (opora.bot.embeddings.CHOICES), here so that settings do not
# import the encoders themselves.
ENCODER_CHOICES = ("use", "e5", "use+e5", "use+minilm")
# Better on every English quality figure at a CPU p99 within target (ADR 0045); a process whose
# setting is unset falls back to "use" when the MiniLM weights are not installed.
DEFAULT_ENCODER = "use+minilm"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPORA_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./opora-data")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    # The address people and providers reach the desk at; unset, it is this process's host and port.
    base_url: str | None = None
    default_language: str = "ru"
    default_timezone: str = "Europe/Moscow"

    host: str = "127.0.0.1"
    port: int = 8000
    # Embedded mode runs job workers inside `opora serve`; the scaled shape turns this off
    # and starts `opora worker` processes instead.
    embedded_worker: bool = True
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    job_lease_seconds: int = Field(default=60, ge=1)
    job_poll_seconds: float = Field(default=1.0, gt=0)

    # The built-in SMTP receiver (embedded shape): off unless a port is set.
    smtp_port: int | None = Field(default=None, ge=0, le=65535)
    smtp_host: str = "127.0.0.1"
    smtp_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # IMAP mailboxes whose server offers IDLE are watched, so new mail is polled at once.
    imap_idle: bool = True
    # How long a process may serve settings it read before (SLA, routing, rules, chat channels)
    # after another process or a raw SQL write changed them (ADR 36); 0 reads them every time.
    read_cache_seconds: float = Field(default=5.0, ge=0)
    # Knowledge-base search re-ranked with sentence vectors, and with IDF weights on PostgreSQL
    # (ADR 37): Russian questions that share no word with their article are found (test-split
    # recall@3 0.93 against 0.86 / 0.83 without), at about 6 ms more CPU per search and the
    # sentence encoder (~150 MB) loaded by every process that indexes articles or searches them.
    # On by default since its statements were made cheap enough for the 20 ms budget (ADR 41).
    kb_search_reranking: bool = True
    # The sentence encoder of the bot's intent model (ADR 0042): "use" (multilingual USE),
    # "e5" (multilingual-e5-small), "use+e5" (both, concatenated) or "use+minilm" (the default:
    # USE beside the English all-MiniLM-L6-v2 for English models, USE alone for the others;
    # ADR 0045). A model trained with another encoder is not used: the bot hands that language's
    # messages to a person until it is retrained, which each start asks for (opora.bot.upgrade).
    bot_encoder: str = DEFAULT_ENCODER
    # The cyclic garbage collector of `opora serve` (ADR 43): once the objects that came since the
    # last freeze reach this count, they are collected and the survivors frozen, so a collection
    # walks only those, not every object (0.3-0.6 s with 2,000 chat sockets on an idle machine).
    # 0 keeps CPython's own policy. Bounded memory under connection churn was measured with the
    # sans-I/O WebSocket protocol that `opora serve` selects (cli.WEBSOCKET_IMPLEMENTATION). A
    # major collects everything once the frozen set or the resident memory has grown by
    # ``gc_major_growth`` (0.5 = half).
    gc_young_objects: int = Field(default=10_000, ge=0)
    gc_major_growth: float = Field(default=0.5, gt=0)

    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    max_text_chars: int = Field(default=100_000, ge=1)
    reopen_window_days: int = Field(default=7, ge=0)
    session_days: int = Field(default=14, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in ("ru", "en"):
            raise ValueError("must be 'ru' or 'en'")
        return value

    @field_validator("bot_encoder")
    @classmethod
    def _bot_encoder(cls, value: str) -> str:
        if value not in ENCODER_CHOICES:
            raise ValueError(f"must be one of {', '.join(repr(c) for c in ENCODER_CHOICES)}")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'opora.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data dir.

        Generated keys must survive restarts: channel secrets are encrypted with it.
        """
        if self.secret_key:
            return self.secret_key
        self.ensure_data_dir()
        path = self.data_dir / SECRET_FILE
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        # Create exclusively so that two processes starting together agree on one key.
        try:
            with path.open("x") as handle:
                handle.write(key)
            path.chmod(0o600)
        except FileExistsError:
            return path.read_text().strip()
        return key


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async drivers we ship."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    return url
