"""Reply-extraction pass rate per fixture source of the shared email corpus.

Run from the repository root:  .venv/bin/python bench/email_replies.py [--failures]
The corpus is found at ../shared/data/email_fixtures (or $OPORA_SHARED_DATA/email_fixtures).
The "library only" column is mail-parser-reply on its own (all its languages), for comparison.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mailparser_reply import EmailReplyParser  # type: ignore[import-untyped]
from mailparser_reply.constants import MAIL_LANGUAGES  # type: ignore[import-untyped]

# The expectations live with the tests; make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.channels.email.fixture_corpus import Case, check, fixture_root, reply_cases

from opora.channels.email import ReplySplit

_LIBRARY = EmailReplyParser(languages=[lang for lang in MAIL_LANGUAGES if lang != "david"])


def library_only(text: str, _sender: str | None) -> ReplySplit:
    message = _LIBRARY.read(text)
    if not message.replies:
        return ReplySplit(reply="", quoted="", signature="")
    first = message.replies[0]
    return ReplySplit(reply=first.body, quoted="", signature=first.signatures or "")


def main(argv: list[str]) -> int:
    root = fixture_root()
    if root is None:
        print("email fixtures not found: set OPORA_SHARED_DATA or check out ../shared/data", file=sys.stderr)
        return 2
    started = time.perf_counter()
    cases: list[Case] = list(reply_cases(root))
    totals: dict[str, list[int]] = {}
    failures: list[str] = []
    for case in cases:
        ok = check(case)
        if not ok:
            failures.append(f"  {case.source}/{case.name}: {'; '.join(case.problems)}")
        baseline = check(case, library_only)
        counts = totals.setdefault(case.source, [0, 0, 0])
        counts[0] += ok
        counts[1] += baseline
        counts[2] += 1
    elapsed = time.perf_counter() - started
    print(f"{'source':<18}{'opora':>14}{'library only':>16}")
    for source, (ours, lib, total) in [
        *totals.items(),
        ("all", [sum(c[i] for c in totals.values()) for i in range(3)]),
    ]:
        print(
            f"{source:<18}{f'{ours}/{total} {ours / total:.0%}':>14}{f'{lib}/{total} {lib / total:.0%}':>16}"
        )
    print(f"{len(cases)} cases in {elapsed:.2f} s (parsing, both splitters and checks)")
    if "--failures" in argv and failures:
        print("failures:\n" + "\n".join(failures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
