"""Content-addressed attachment files under the data dir."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from opora.kit.errors import PayloadTooLarge


class AttachmentStore:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store bytes and return their SHA-256; identical files are kept once.

        Written to a temporary file and renamed, so a crash never leaves a half file under the
        final name. Blocking: call from a thread for large files.
        """
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(
                f"attachment is {len(data)} bytes; the limit is {self.max_bytes}", limit=self.max_bytes
            )
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()
