"""Every file of the shared email fixture corpus goes through the parser it belongs to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opora.channels.email import EmailParseError, html_to_text, parse_email, split_reply
from tests.channels.email import fixture_corpus as corpus

ROOT = corpus.fixture_root()
pytestmark = pytest.mark.skipif(
    ROOT is None,
    reason=f"shared email fixtures not found (../shared/data/email_fixtures or ${corpus.ENV_VAR})",
)

# Measured pass rates (see bench/email_replies.py); the floors sit a little below them so a real
# regression fails while a deliberate trade-off on one fixture does not.
MIN_PASS_RATE = {
    "crisp": 0.95,
    "zapier": 0.95,
    "talon-standard": 0.9,
    "talon-html": 0.9,
    "talon-signature": 0.8,
}


def _files(kind: str) -> list[Path]:
    assert ROOT is not None
    return [p for p in corpus.all_files(ROOT) if corpus.classify(ROOT, p) == kind]


def _ids(paths: list[Path]) -> list[str]:
    assert ROOT is not None
    return [p.relative_to(ROOT).as_posix() for p in paths]


def test_every_file_has_a_known_kind() -> None:
    assert ROOT is not None
    unknown = [p for p in corpus.all_files(ROOT) if corpus.classify(ROOT, p) == "unknown"]
    assert unknown == []


@pytest.mark.parametrize("path", _files("mime") if ROOT else [], ids=_ids(_files("mime")) if ROOT else [])
def test_mime_fixture_parses(path: Path) -> None:
    assert ROOT is not None
    raw = path.read_bytes()
    if path.relative_to(ROOT).as_posix() in corpus.HEADERLESS:
        with pytest.raises(EmailParseError) as info:
            parse_email(raw)
        assert info.value.reason == "no_headers"
        return
    parsed = parse_email(raw)
    assert parsed.message_id
    assert "<" not in parsed.message_id
    assert parsed.date is None or parsed.date.utcoffset() is not None
    split_reply(parsed.text, sender_name=parsed.from_name)


@pytest.mark.parametrize("path", _files("mbox") if ROOT else [], ids=_ids(_files("mbox")) if ROOT else [])
def test_mbox_messages_parse(path: Path) -> None:
    messages = corpus.split_mbox(path.read_bytes())
    assert messages
    for raw in messages:
        assert parse_email(raw).subject


def test_mbox_subjects_match_summary() -> None:
    assert ROOT is not None
    folder = ROOT / corpus.MBOX_DIR
    summary = (folder / "issue1189-summary.txt").read_text(encoding="utf-8")
    expected = re.findall(r"^Subject: (.*)$", summary, flags=re.MULTILINE)
    raw = (folder / "issue1189.mbox.txt").read_bytes()
    subjects = [parse_email(m).subject for m in corpus.split_mbox(raw)]
    assert subjects == [s.strip() for s in expected]


@pytest.mark.parametrize(
    "path",
    _files("text_reply") + _files("signature") if ROOT else [],
    ids=_ids(_files("text_reply") + _files("signature")) if ROOT else [],
)
def test_text_fixture_splits(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", errors="replace")
    split = split_reply(text)
    # Nothing is lost: every non-blank line ends up in one of the three parts.
    joined = "\n".join((split.reply, split.signature, split.quoted))
    for line in text.splitlines():
        assert line.strip() in joined


@pytest.mark.parametrize(
    "path", _files("html_reply") if ROOT else [], ids=_ids(_files("html_reply")) if ROOT else []
)
def test_html_fixture_renders_and_splits(path: Path) -> None:
    text = html_to_text(path.read_bytes().decode("utf-8", errors="replace"))
    assert text.strip()
    assert split_reply(text).visible.strip()


def test_reply_pass_rates_per_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert ROOT is not None
    rates = corpus.pass_rates(ROOT)
    with capsys.disabled():
        print()
        for source, (passed, total, _) in rates.items():
            print(f"reply extraction {source}: {passed}/{total} = {passed / total:.1%}")
    assert set(rates) == set(MIN_PASS_RATE)
    for source, (passed, total, failed) in rates.items():
        detail = "; ".join(f"{c.name}: {c.problems}" for c in failed)
        assert passed / total >= MIN_PASS_RATE[source], f"{source} {passed}/{total}: {detail}"
