"""IMAP mailbox access (imap-tools): fetch unseen mail, later mark it processed.

Both calls block; the poll job runs them in a thread. They are two separate connections on
purpose: the mail is marked only after the transaction that stored it committed, and the
connection must not stay open across a transaction that may roll back. If the process dies in
between, the next poll fetches the same mail again and the inbox drops it by its Message-ID.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from email.message import Message

from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessage
from imap_tools.consts import MailMessageFlags

from opora.channels.email.config import ImapServer

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 60.0
# Fetched per IMAP command: fewer round trips than one by one, bounded memory per command.
FETCH_CHUNK = 25


class _RawMessage(MailMessage):
    """Keeps the exact bytes the server sent: re-serialising a parsed mail can change them."""

    def __init__(self, fetch_data: list[object]) -> None:
        raw, uid_data, flag_data = self._get_message_data_parts(fetch_data)
        self._raw_uid_data = uid_data
        self._raw_flag_data = flag_data
        self.raw: bytes = bytes(raw)
        # imap-tools parses every message here; the pipeline parses it later anyway, once.
        self.obj = Message()


@dataclass(frozen=True)
class FetchedMail:
    uid: str
    raw: bytes = field(repr=False)


@dataclass(frozen=True)
class Batch:
    """One poll's unseen mail, oldest first, and the folder's UIDVALIDITY at that moment."""

    uidvalidity: str | None
    mails: list[FetchedMail]
    # Too large to store: only flagged seen and \\Flagged, so the poll does not fetch it forever
    # and a person looking at the mailbox sees it.
    too_large: list[str]

    @property
    def uids(self) -> list[str]:
        return [m.uid for m in self.mails]


def fetch_unseen(server: ImapServer, *, limit: int, max_bytes: int) -> Batch:
    """Read up to ``limit`` unseen mails of the folder without marking them seen."""
    with _connect(server) as box:
        validity = _uidvalidity(box, server.folder)
        uids = sorted(box.uids(AND(seen=False)), key=int)[:limit]
        if not uids:
            # imap-tools reads an empty uid_list as "no list given" and would fetch ALL mail.
            return Batch(uidvalidity=validity, mails=[], too_large=[])
        mails: list[FetchedMail] = []
        too_large: list[str] = []
        for message in box.fetch(uid_list=uids, mark_seen=False, bulk=FETCH_CHUNK):
            if not isinstance(message, _RawMessage) or message.uid is None:
                continue
            if len(message.raw) > max_bytes:
                log.error(
                    "mail too large to store, left in the mailbox and flagged",
                    extra={"imap_uid": message.uid, "size": len(message.raw), "imap_host": server.host},
                )
                too_large.append(message.uid)
                continue
            mails.append(FetchedMail(uid=message.uid, raw=message.raw))
    return Batch(uidvalidity=validity, mails=mails, too_large=too_large)


def mark_processed(server: ImapServer, batch: Batch) -> None:
    """Flag the batch's mail seen (and move it, when the channel says where)."""
    stored, too_large = batch.uids, batch.too_large
    if not stored and not too_large:
        return
    with _connect(server) as box:
        validity = _uidvalidity(box, server.folder)
        if batch.uidvalidity is not None and validity != batch.uidvalidity:
            # The UIDs now name other mail (the folder was rebuilt): mark nothing. The next poll
            # fetches what is unseen again and the inbox drops what it already has.
            log.warning("UIDVALIDITY changed between fetch and mark; nothing marked")
            return
        if too_large:
            box.flag(too_large, (MailMessageFlags.SEEN, MailMessageFlags.FLAGGED), True)
        if stored:
            box.flag(stored, MailMessageFlags.SEEN, True)
            if server.processed_folder:
                _ensure_folder(box, server.processed_folder)
                box.move(stored, server.processed_folder)


def connect(server: ImapServer) -> BaseMailBox:
    """A logged-in connection to the mailbox's folder (for the IDLE watcher)."""
    return _connect(server)


def offers_idle(box: BaseMailBox) -> bool:
    return "IDLE" in {str(c).upper() for c in box.client.capabilities}


def close_quietly(box: BaseMailBox) -> None:
    _close(box)


def _connect(server: ImapServer) -> BaseMailBox:
    box: BaseMailBox
    if server.security == "ssl":
        box = MailBox(server.host, server.port, timeout=TIMEOUT_SECONDS, ssl_context=_tls(server))
    elif server.security == "starttls":
        box = MailBoxStartTls(server.host, server.port, timeout=TIMEOUT_SECONDS, ssl_context=_tls(server))
    else:
        box = MailBoxUnencrypted(server.host, server.port, timeout=TIMEOUT_SECONDS)
    box.email_message_class = _RawMessage
    try:
        if (server.username + server.password).isascii():
            return box.login(server.username, server.password, initial_folder=server.folder)
        # IMAP LOGIN is ASCII only; a Cyrillic password goes through AUTHENTICATE PLAIN in UTF-8.
        return box.login_utf8(server.username, server.password, initial_folder=server.folder)
    except BaseException:
        _close(box)
        raise


def _close(box: BaseMailBox) -> None:
    # A failed login leaves a connected socket behind; close it quietly.
    try:
        box.client.shutdown()
    except Exception:
        log.debug("closing an IMAP connection failed", exc_info=True)


def _tls(server: ImapServer) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not server.verify_tls:
        # An admin's explicit choice for a self-signed server on the shop's own network.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _uidvalidity(box: BaseMailBox, folder: str) -> str | None:
    status = box.folder.status(folder, ["UIDVALIDITY"])
    value = status.get("UIDVALIDITY")
    return None if value is None else str(value)


def _ensure_folder(box: BaseMailBox, folder: str) -> None:
    if not box.folder.exists(folder):
        box.folder.create(folder)
