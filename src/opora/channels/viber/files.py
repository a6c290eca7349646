"""Files of agents' Viber replies, published at signed links for Viber to fetch.

Viber's send_message takes a file or picture by URL only; it never accepts the bytes. A reply's
file is therefore offered at ``{files_base_url}/viber/v1/files/{channel}/{sha256}/{signature}/{name}``,
where the signature is an HMAC of the channel and content hash keyed with the bot's token: only
links the desk made open, and a link opens one file, not the store.
"""

from __future__ import annotations

import asyncio
import hmac
from hashlib import sha256
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from opora.auth.deps import RuntimeDep, Uow
from opora.channels import service as channels_service
from opora.channels.models import Channel
from opora.channels.viber import repository
from opora.kit.crypto import constant_time_equal
from opora.kit.errors import NotFound
from opora.kit.http import content_disposition

router = APIRouter(prefix="/viber/v1", tags=["viber"], include_in_schema=False)

SIGNATURE_CHARS = 32


def signature(auth_token: str, channel_id: int, digest: str) -> str:
    mac = hmac.new(auth_token.encode(), f"viber-file:{channel_id}:{digest}".encode(), sha256)
    return mac.hexdigest()[:SIGNATURE_CHARS]


def file_url(base_url: str, auth_token: str, channel_id: int, digest: str, filename: str) -> str:
    name = quote(filename.replace("/", "_") or "file", safe="")
    return (
        f"{base_url}/viber/v1/files/{channel_id}/{digest}/{signature(auth_token, channel_id, digest)}/{name}"
    )


@router.get("/files/{channel_id}/{digest}/{given}/{name}")
async def download(
    channel_id: int, digest: str, given: str, name: str, uow: Uow, runtime: RuntimeDep
) -> Response:
    channel = await uow.session.get(Channel, channel_id) if 0 < channel_id < 2**62 else None
    if channel is None or channel.type != "viber" or not channel.is_active:
        raise NotFound("No such file.")
    try:
        token = channels_service.channel_secrets(runtime, channel).get("auth_token")
    except ValueError:
        token = None
    if not isinstance(token, str) or not constant_time_equal(
        given, signature(token.strip(), channel_id, digest)
    ):
        raise NotFound("No such file.")
    attachment = await repository.attachment_by_hash(uow.session, digest)
    if attachment is None:
        raise NotFound("No such file.")
    data = await asyncio.to_thread(runtime.storage.get, digest)
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
    if not attachment.content_type.startswith("image/"):
        headers["Content-Disposition"] = content_disposition(attachment.filename)
    return Response(data, media_type=attachment.content_type, headers=headers)
