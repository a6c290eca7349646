"""The shared email fixture corpus: where it is, what each file is, and what a correct split is.

Used by the tests and by ``bench/email_replies.py``. Expectations come from three places:
- the fixture set itself (talon's ``*_reply_text`` / ``*_signature`` files, talon's default "Hello"
  reply for standard replies and "Hi. I am fine. / Thanks, / Alex" for its HTML replies);
- crisp-oss's convention that every ``Fusce bibendum ...`` fixture's reply is that one paragraph;
- for the remaining crisp and zapier bodies, the expectations below, written by us from what the
  upstream tests assert plus reading each body (exact where the answer is unambiguous, otherwise
  "must contain / must not contain" checks).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from opora.channels.email import ReplySplit, html_to_text, parse_email, split_reply

ENV_VAR = "OPORA_SHARED_DATA"
# Folders of raw RFC 5322 messages, one per file.
MIME_DIRS = (
    "cpython_test_email",
    "mimekit/messages",
    "php-mime-mail-parser",
    "mailgun_talon/standard_replies",
)
MBOX_DIR = "mimekit/mbox"
TEXT_REPLY_SOURCES = {"crisp": "crisp-oss_email-reply-parser", "zapier": "zapier_email-reply-parser"}
# Known headerless fixture: CPython's digest body fragment, not a message.
HEADERLESS = {"cpython_test_email/msg_19.txt"}
WHOLE = "\x00whole"  # expectation marker: the reply is the entire body


def shared_data_dir() -> Path | None:
    configured = os.environ.get(ENV_VAR)
    base = Path(configured) if configured else Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    return base.resolve() if base.is_dir() else None


def fixture_root() -> Path | None:
    data = shared_data_dir()
    root = data / "email_fixtures" if data else None
    return root if root and root.is_dir() else None


def classify(root: Path, path: Path) -> str:
    """Kind of a fixture file: mime, mbox, text_reply, html_reply, signature, expected or doc."""
    rel = path.relative_to(root).as_posix()
    name = path.name
    if name in ("LICENSE", "README.txt") or name.endswith("-summary.txt"):
        return "doc"
    if rel.startswith(MBOX_DIR + "/"):
        return "mbox"
    if name.endswith("_reply_text") or rel.endswith(("_signature", "_sender")):
        return "expected"
    if rel.startswith("mailgun_talon/signature/"):
        return "signature"
    if name.endswith(".eml") or any(rel.startswith(d + "/") for d in MIME_DIRS):
        return "mime"
    if name.endswith(".html"):
        return "html_reply"
    if any(rel.startswith(d + "/") for d in TEXT_REPLY_SOURCES.values()):
        return "text_reply"
    return "unknown"


# An mbox "From " separator: at the start or after a blank line, and followed by two header lines.
# Stricter than the mailbox module, so "From Russia with love" in an unmunged body stays text.
_MBOX_SEPARATOR = re.compile(rb"(?:\A(?:\xef\xbb\xbf)?|\n\n)From [^\n]*\n(?=[!-9;-~]+:[^\n]*\n[!-9;-~ \t])")


def split_mbox(data: bytes) -> list[bytes]:
    starts = [m.end() for m in _MBOX_SEPARATOR.finditer(data)]
    ends = [*[m.start() for m in _MBOX_SEPARATOR.finditer(data)][1:], len(data)]
    return [data[a:b] for a, b in zip(starts, ends, strict=True)]


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@dataclass(frozen=True)
class Expect:
    reply: str | None = None
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    # talon's "reply" keeps the signature, so compare reply + signature for its fixtures.
    with_signature: bool = False
    signature: str | None = None


@dataclass
class Case:
    source: str
    name: str
    text: str
    expect: Expect
    sender: str | None = None
    problems: list[str] = field(default_factory=list)


def squash(text: str) -> str:
    return " ".join(text.split())


def check(case: Case, splitter: Callable[[str, str | None], ReplySplit] | None = None) -> bool:
    """Does the split of ``case`` meet its expectation? ``splitter`` swaps in another parser."""
    split = splitter(case.text, case.sender) if splitter else split_reply(case.text, sender_name=case.sender)
    exp = case.expect
    got = split.reply + ("\n" + split.signature if exp.with_signature else "")
    case.problems = []
    if exp.reply is not None:
        wanted = case.text if exp.reply == WHOLE else exp.reply
        if squash(got) != squash(wanted):
            case.problems.append(f"reply {squash(got)[:160]!r} != {squash(wanted)[:160]!r}")
    for needle in exp.contains:
        if squash(needle) not in squash(got):
            case.problems.append(f"missing {needle!r}")
    for needle in exp.absent:
        if squash(needle) in squash(got):
            case.problems.append(f"should not contain {needle!r}")
    if exp.signature is not None and squash(split.signature) != squash(exp.signature):
        case.problems.append(
            f"signature {squash(split.signature)[:120]!r} != {squash(exp.signature)[:120]!r}"
        )
    return not case.problems


LOREM = (
    "Fusce bibendum, quam hendrerit sagittis tempor, dui turpis tempus erat, pharetra sodales ante sem sit "
    "amet metus.\nNulla malesuada, orci non vulputate lobortis, massa felis pharetra ex, convallis consectetur "
    "ex libero eget ante.\nNam vel turpis posuere, rhoncus ligula in, venenatis orci. Duis interdum venenatis "
    "ex a rutrum.\nDuis ut libero eu lectus consequat consequat ut vel lorem. Vestibulum convallis lectus "
    "urna,\net mollis ligula rutrum quis. Fusce sed odio id arcu varius aliquet nec nec nibh."
)
_ANOTHER = Expect(reply="Here is another email")
_ONE_IS_NOT_ON = Expect(
    reply="Thank, this is really helpful.\n\nOne outstanding question I had:\n\nLocally (on development), when I run..."
)
_BULLETS = Expect(
    reply="test 2 this should list second\n\nand have spaces\n\nand retain this formatting\n\n"
    "- how about bullets\n- and another"
)
_RSYNC = Expect(
    contains=("On your remote host you can run:", "the tunnel is not working."),
    absent=("I am having an odd issue",),
)
_ABHISHEK = Expect(reply="Oh thanks.\n\nHaving the function would be great.\n\n-Abhishek Kona")
_CORRECT_SIG = Expect(reply="this is an email with a correct -- signature.")
_RIAK_BOTTOM = Expect(contains=("Hi,", "You can list the keys for the bucket"), absent=("mailman/listinfo",))

CRISP: dict[str, Expect] = {
    "correct_sig": _CORRECT_SIG,
    "email_1": Expect(
        contains=("Hi folks", "I am currently using the Java HTTP API."), absent=("riak-users",)
    ),
    "email_19": Expect(contains=("On Thursday, I get proper rendering.",), absent=("Was this caching",)),
    "email_2": _RIAK_BOTTOM,
    "email_20": Expect(reply="On Thursday."),
    "email_21": Expect(reply=WHOLE),
    "email_2_1": Expect(reply="Outlook with a reply"),
    "email_3": _ABHISHEK,
    "email_4": Expect(reply="Awesome! I haven't had another problem with it."),
    "email_5": Expect(reply=WHOLE),
    "email_6": Expect(contains=("I get proper rendering as well.",), absent=("Was this caching",)),
    "email_blackberry": _ANOTHER,
    "email_bullets": _BULLETS,
    "email_custom_quote_header": Expect(reply="Thank you!"),
    "email_customer_quote_header_2": Expect(reply="Thank you very much."),
    "email_customer_quote_header_3": Expect(
        reply="bonjour,\nje n'ai pas eu de retour sur ma précision..\nmerci d'avance"
    ),
    "email_emoji": Expect(contains=("🎉",)),
    "email_iphone": _ANOTHER,
    "email_multi_word_sent_from_my_mobile_device": _ANOTHER,
    "email_not_a_signature": Expect(
        contains=("This is a reminder", "Registration Jun 27, 2018 facebok.com", "If you have any questions")
    ),
    "email_not_a_signature_2": Expect(reply=WHOLE),
    "email_one_is_not_on": _ONE_IS_NOT_ON,
    "email_reply_header": Expect(
        contains=("This is the latest reply.", "On the other hand, it could happen TWICE!"),
        absent=("mrmister again", "On Wed, Dec 9"),
    ),
    "email_sent_from": Expect(
        reply="Hi it can happen to any texts you type, as long as you type in between words or paragraphs."
    ),
    "email_sent_from_my_not_signature": Expect(reply=WHOLE),
    "email_thread": Expect(reply="This is new email reply in thread from bellow."),
    "email_tricky_11_double_signature": Expect(reply="Thanks for your help!"),
    "email_tricky_13_timestamp_variations": Expect(reply=WHOLE),
    "email_tricky_16_unicode_signatures": Expect(reply="Thanks for the update!"),
    "email_tricky_17_forward_header": Expect(reply="See the forwarded message below."),
    "email_tricky_18_inline_reply": Expect(
        contains=("I think option A is great.", "Option B has some drawbacks.", "Option C is not suitable")
    ),
    "email_tricky_19_quote_without_header": Expect(
        contains=(
            "I wanted to respond to your points:",
            "My response to the quoted text",
            "And my final thoughts.",
        )
    ),
    "email_tricky_1_on_false_positive": Expect(reply=WHOLE),
    "email_tricky_20_html_entities": Expect(
        reply="The data should be &gt; 100 and &lt; 200.\n\nWe need to ensure that &amp; symbols are handled correctly."
    ),
    "email_tricky_2_url_with_wrote": Expect(
        contains=("Check out this article", 'patterns like "wrote:" in them.')
    ),
    "email_tricky_3_code_block": Expect(reply=WHOLE),
    "email_tricky_4_from_in_body": Expect(reply=WHOLE),
    "email_tricky_6_regards_in_sentence": Expect(reply=WHOLE),
    "email_tricky_7_multiple_dashes": Expect(reply=WHOLE),
    "email_tricky_8_sent_from_in_content": Expect(reply=WHOLE),
    "email_tricky_9_nested_quotes": Expect(reply="I agree with the points below."),
    "email_unquoted_reply": Expect(reply="This is my reply."),
    "email_with_regards": Expect(reply="Hi,\n\nI still have the same problem....\n\nCan you help?"),
    "email_zoho": Expect(
        reply="What is the best way to clear a Riak bucket of all key, values after\nrunning a test?"
    ),
    "sig_no_empty_line": Expect(reply="this is an email with a signature with no empty line above."),
}

ZAPIER: dict[str, Expect] = {
    "correct_sig": _CORRECT_SIG,
    "email_1_1": Expect(
        contains=("Hi folks", "I am currently using the Java HTTP API."), absent=("riak-users",)
    ),
    "email_1_2": _RIAK_BOTTOM,
    "email_1_3": _ABHISHEK,
    "email_1_4": Expect(reply="Awesome! I haven't had another problem with it."),
    "email_1_5": Expect(reply=WHOLE),
    "email_1_6": Expect(contains=("I get proper rendering as well.",), absent=("Was this caching",)),
    "email_1_7": Expect(reply=":+1:"),
    "email_1_8": Expect(
        contains=("I will reply under this one", "and under this."),
        absent=("Hey there, this is my signature",),
    ),
    "email_2_1": Expect(reply="Outlook with a reply"),
    "email_2_2": Expect(reply="Outlook with a reply directly above line"),
    "email_2_3": Expect(reply="Outlook with a reply above headers using unusual format"),
    "email_BlackBerry": _ANOTHER,
    "email_bullets": _BULLETS,
    "email_gmail": Expect(reply="This is a test for inbox replying to a github message."),
    "email_headers_no_delimiter": Expect(reply="And another reply!"),
    "email_iPhone": _ANOTHER,
    "email_multi_word_sent_from_my_mobile_device": _ANOTHER,
    "email_one_is_not_on": _ONE_IS_NOT_ON,
    "email_partial_quote_header": _RSYNC,
    "email_sent_from_my_not_signature": Expect(reply=WHOLE),
    "email_sig_delimiter_in_middle_of_line": Expect(reply=WHOLE),
    "greedy_on": _RSYNC,
    "pathological": Expect(
        reply="I think you're onto something. I will try to fix the problem as soon as I\nget back to a computer."
    ),
}

TALON_HTML_REPLY = "Hi. I am fine.\n\nThanks,\nAlex"
TALON_EXTRA: dict[str, Expect] = {
    "OLK_SRC_BODY_SECTION.html": Expect(reply="Reply", with_signature=True),
    "reply-separated-by-hr.html": Expect(
        contains=("Hi", "there"), absent=("Hello", "From:"), with_signature=True
    ),
    "reply-quotations-share-block.eml": Expect(
        contains=("Sounds great.",), absent=("New Booking Inquiry",), with_signature=True
    ),
}


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def reply_cases(root: Path) -> Iterator[Case]:
    """Every fixture with an expected reply or signature, tagged with its source."""
    for source, folder in TEXT_REPLY_SOURCES.items():
        table = CRISP if source == "crisp" else ZAPIER
        for path in sorted((root / folder).glob("*.txt")):
            text = _read_text(path)
            expect = Expect(reply=LOREM) if text.startswith("Fusce bibendum") else table.get(path.stem)
            if expect is not None:
                yield Case(source, path.name, text, expect)
    yield from _talon_cases(root / "mailgun_talon")


def _talon_cases(talon: Path) -> Iterator[Case]:
    for path in sorted((talon / "standard_replies").glob("*.eml")):
        expected = path.with_name(path.stem + "_reply_text")
        reply = _read_text(expected).strip() if expected.exists() else "Hello"
        parsed = parse_email(path.read_bytes())
        yield Case("talon-standard", path.name, parsed.text, Expect(reply=reply, with_signature=True))
    for path in sorted((talon / "html_replies").glob("*.html")):
        expect = Expect(reply=TALON_HTML_REPLY, with_signature=True)
        yield Case("talon-html", path.name, html_to_text(_read_text(path)), expect)
    for name, expect in TALON_EXTRA.items():
        path = talon / name
        if path.exists():
            raw = path.read_bytes()
            text = parse_email(raw).text if name.endswith(".eml") else html_to_text(_read_text(path))
            yield Case("talon-html", name, text, expect)
    for body in sorted((talon / "signature" / "emails" / "stripped").glob("*_body")):
        stem = body.name[: -len("_body")]
        signature = body.with_name(stem + "_signature")
        sender = body.with_name(stem + "_sender")
        # '#sig#' marks talon's classifier training lines; it is not part of the mail.
        text = _read_text(body).replace("#sig#", "")
        wanted = _read_text(signature).replace("#sig#", "").strip() if signature.exists() else ""
        who = _read_text(sender).strip() if sender.exists() else None
        yield Case("talon-signature", body.name, text, Expect(signature=wanted), sender=who or None)


def pass_rates(root: Path) -> dict[str, tuple[int, int, list[Case]]]:
    rates: dict[str, tuple[int, int, list[Case]]] = {}
    for case in reply_cases(root):
        passed, total, failed = rates.get(case.source, (0, 0, []))
        ok = check(case)
        rates[case.source] = (passed + ok, total + 1, failed if ok else [*failed, case])
    return rates
