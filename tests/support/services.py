"""Real PostgreSQL and Redis for tests: reachable, or started the way this machine starts them."""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import time

PG_ADMIN_URL = os.environ.get("OPORA_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OPORA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return True
        time.sleep(0.2)
    return False


def ensure_postgres() -> None:
    if _port_open("127.0.0.1", 5432):
        return
    versions = [os.path.basename(p) for p in glob.glob("/etc/postgresql/*")]
    for version in versions:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
    if not _wait("127.0.0.1", 5432, 30):
        raise RuntimeError("PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started")


def ensure_redis() -> None:
    if _port_open("127.0.0.1", 6379):
        return
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        check=False,
    )
    if not _wait("127.0.0.1", 6379, 15):
        raise RuntimeError("Redis is not reachable on 127.0.0.1:6379 and could not be started")


def create_pg_database(name: str) -> str:
    """Create an empty database and return its async URL."""
    import psycopg

    ensure_postgres()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
