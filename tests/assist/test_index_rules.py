"""What the similar-tickets index keeps of a text, and how it weighs and ranks: pure functions."""

from __future__ import annotations

from opora.assist import similar


def test_stems_leave_out_stop_words_numbers_and_repeats() -> None:
    stems = similar.text_stems(
        ["Здравствуйте! Заказ №4581-22 не пришёл, заказ 7730215 тоже", "order 12345 late"]
    )
    assert stems == ["заказ", "пришел", "тож", "order", "late"]
    assert similar.text_stems(["", "!!! 123 ?"]) == []


def test_documents_and_queries_are_bounded() -> None:
    long_text = " ".join(f"слово{chr(0x430 + i % 32)}{chr(0x430 + i // 32 % 32)}" for i in range(2_000))
    assert len(similar.doc_stems([long_text])) <= similar.MAX_DOC_STEMS
    assert len(similar.query_stems([long_text])) == similar.MAX_QUERY_STEMS
    # The newest message comes first, so its words are the ones kept.
    assert similar.query_stems(["курьер", "возврат"])[0] == "курьер"


def test_rare_stems_weigh_more_and_rank_first() -> None:
    assert similar.idf(1) > similar.idf(50) > similar.idf(similar.WINDOW) > 0
    postings = [("курьер", 1), ("курьер", 2), ("посылк", 2)] + [("заказ", n) for n in range(3, 400)]
    found, weight = similar.candidates(postings, limit=3)
    assert [c.ticket_id for c in found] == [2, 1, 399]
    assert weight == sum(similar.idf(n) for n in (2, 1, 397))
    # Cosine favours the shorter of two documents sharing the same words.
    assert similar.similarity(5.0, 10.0, 10, 0.0) > similar.similarity(5.0, 10.0, 100, 0.0)
    assert similar.coverage(5.0, 10.0, 10.0) == 0.25
