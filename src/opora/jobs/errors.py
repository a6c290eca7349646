"""Exceptions a handler may raise to steer retries, and how failures are written down."""

from __future__ import annotations

import traceback

# Enough of a traceback to debug from the admin screen without letting one job bloat the table.
MAX_ERROR_CHARS = 8000


class PermanentFailure(Exception):
    """Raise from a handler when retrying cannot help (e.g. the provider rejected the request)."""


class RetryAfter(Exception):
    """Raise to be retried after a delay the handler knows better (e.g. a Retry-After header).

    The attempt still counts toward ``max_attempts``.
    """

    def __init__(self, seconds: float, message: str = "") -> None:
        super().__init__(message or f"retry requested after {seconds:g}s")
        self.seconds = max(0.0, seconds)


class UnknownTask(PermanentFailure):
    """No handler is registered under the job's task name (typo, or code older than the job)."""


class JobTimeout(Exception):
    pass


class LeaseLost(Exception):
    """The job was handed to another worker while this one was still running it."""


def format_error(exc: BaseException) -> str:
    headline = f"{type(exc).__name__}: {exc}".strip()
    if exc.__traceback__ is None and exc.__cause__ is None:
        return headline[:MAX_ERROR_CHARS]
    trace = "".join(traceback.format_exception(exc))
    # Keep the headline even when the traceback is cut: it is what admins read first.
    room = MAX_ERROR_CHARS - len(headline) - 3
    tail = trace if len(trace) <= room else "…" + trace[-(room - 1) :]
    return f"{headline}\n\n{tail}"[:MAX_ERROR_CHARS]
