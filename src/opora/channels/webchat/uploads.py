"""Files visitors attach: the checks before storing, and the way back to a stored one."""

from __future__ import annotations

from dataclasses import dataclass

from opora.channels.models import Channel
from opora.channels.webchat import repository
from opora.channels.webchat.adapter import DEFAULT_UPLOAD_BYTES, DEFAULT_UPLOAD_TYPES, NEVER_UPLOADED
from opora.db import UnitOfWork
from opora.kit.errors import InvalidInput, NotFound, PayloadTooLarge
from opora.tickets.models import Attachment

# First bytes of the picture types we accept: a declared type must match the content.
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


def check_upload(channel: Channel, upload: Upload) -> Upload:
    """Size, type and (for pictures) content checks; the file name loses any path."""
    limit = channel.settings.get("upload_max_bytes") or DEFAULT_UPLOAD_BYTES
    if len(upload.data) > limit:
        raise PayloadTooLarge(f"The file is larger than {limit} bytes.", field="file", limit=limit)
    if not upload.data:
        raise InvalidInput("The file is empty.", field="file")
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    allowed = channel.settings.get("upload_types") or DEFAULT_UPLOAD_TYPES
    if content_type not in allowed or content_type in NEVER_UPLOADED:
        raise InvalidInput(f"Files of type {content_type or 'unknown'} are not accepted here.", field="file")
    magic = _MAGIC.get(content_type)
    if magic and not upload.data.startswith(magic):
        raise InvalidInput(f"The file is not a {content_type} picture.", field="file")
    name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "file"
    return Upload(filename=name, content_type=content_type, data=upload.data)


async def visitor_file(uow: UnitOfWork, attachment_id: int, sha256: str) -> Attachment:
    found = await repository.attachment_with_message(uow.session, attachment_id)
    if found is None or found[0].sha256 != sha256 or found[1].is_internal:
        raise NotFound("No such file.")
    return found[0]
