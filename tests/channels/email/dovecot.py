"""Debian's Dovecot as an unprivileged IMAP server on a loopback port, for the polling tests.

Everything lives in one temporary directory: the generated config, a passwd-file with plain
passwords, the Maildirs, and Dovecot's runtime and state directories. As a normal user Dovecot
runs entirely as that user. As root (CI) Dovecot refuses root for its login and mail processes,
so those run as Debian's ``dovenull`` and ``dovecot`` system users and the Maildirs belong to
``dovecot``; the directory is world-traversable for that reason.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

START_TIMEOUT = 15.0


def binary() -> str | None:
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    def __init__(self, users: dict[str, str]) -> None:
        found = binary()
        if found is None:
            raise RuntimeError("dovecot is not installed")
        self.binary = found
        self.users = users
        self.root = Path(tempfile.mkdtemp(prefix="opora-dovecot-", dir="/tmp"))
        self.root.chmod(0o755)
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            self.login_user, self.internal_user, self.internal_group = "dovenull", "dovecot", "dovecot"
            self.mail_uid, self.mail_gid = pwd.getpwnam("dovecot").pw_uid, grp.getgrnam("dovecot").gr_gid
        else:
            self.login_user = self.internal_user = pwd.getpwuid(os.geteuid()).pw_name
            self.internal_group = grp.getgrgid(os.getegid()).gr_name
            self.mail_uid, self.mail_gid = os.geteuid(), os.getegid()

    def maildir(self, user: str) -> Path:
        return self.root / "mail" / user

    def start(self) -> None:
        for sub in ("base", "state", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        lines = []
        for user, password in self.users.items():
            home = self.maildir(user)
            for part in ("new", "cur", "tmp"):
                (home / part).mkdir(parents=True, exist_ok=True)
            self._own(home, home / "new", home / "cur", home / "tmp")
            lines.append(f"{user}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}")
        users_file = self.root / "users"
        users_file.write_text("\n".join(lines) + "\n")
        (self.root / "dovecot.conf").write_text(self._config(users_file))
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _config(self, users_file: Path) -> str:
        root = self.root
        auth_user = "  user = root\n" if os.geteuid() == 0 else ""
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/base
state_dir = {root}/state
instance_name = opora-test-{uuid.uuid4().hex[:8]}
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = {self.login_user}
default_internal_user = {self.internal_user}
default_internal_group = {self.internal_group}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:~
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users_file}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users_file}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
{auth_user}}}
service auth-worker {{
{auth_user}}}
"""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not answer on port {self.port}:\n{self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def deliver(self, user: str, raw: bytes, *, seen: bool = False) -> str:
        """Drop a mail into the user's Maildir the way an MDA does: write in tmp/, rename to new/.
        ``seen`` files it as already read by someone, in cur/ with the S flag."""
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.opora-test"
        home = self.maildir(user)
        tmp = home / "tmp" / name
        tmp.write_bytes(raw)
        self._own(tmp)
        tmp.rename(home / "cur" / f"{name}:2,S" if seen else home / "new" / name)
        return name

    def unseen_files(self, user: str, folder: str = "") -> list[str]:
        home = self.maildir(user) / folder if folder else self.maildir(user)
        new = [p.name for p in (home / "new").iterdir()] if (home / "new").exists() else []
        cur = [p.name for p in (home / "cur").iterdir()] if (home / "cur").exists() else []
        return new + [name for name in cur if "S" not in name.rpartition(":2,")[2]]

    def seen_files(self, user: str, folder: str = "") -> list[str]:
        home = self.maildir(user) / folder if folder else self.maildir(user)
        cur = home / "cur"
        names = [p.name for p in cur.iterdir()] if cur.exists() else []
        return [name for name in names if "S" in name.rpartition(":2,")[2]]

    def _own(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            for path in paths:
                os.chown(path, self.mail_uid, self.mail_gid)
