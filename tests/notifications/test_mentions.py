from opora.notifications.mentions import Handle, parse_mentions
from opora.notifications.service import snippet

HANDLES = [
    Handle(1, "olga@shop.test", "Olga Petrova"),
    Handle(2, "pavel@shop.test", "Павел Сидоров"),
    Handle(3, "olga.kim@shop.test", "Olga Kim"),
    Handle(4, "ivan@north.test", "Ivan"),
    Handle(5, "ivan@south.test", "Иван"),
    Handle(6, "alex@shop.test", "Sasha"),
    Handle(7, "sasha@shop.test", "Alexander"),
]


def mentions(text: str) -> list[int]:
    return parse_mentions(text, HANDLES)


def test_handles_are_email_local_parts_in_any_case() -> None:
    assert mentions("@olga глянь, пожалуйста") == [1]
    assert mentions("Спросите @OLGA.") == [1]
    assert mentions("(@pavel)") == [2]
    assert mentions("@olga.kim, ok?") == [3]


def test_full_names_in_any_script_and_case() -> None:
    assert mentions("@Olga Petrova please check") == [1]
    assert mentions("@павел  сидоров посмотри") == [2]
    assert mentions("@Olga Kim!") == [3]


def test_each_agent_once_in_order_of_first_mention() -> None:
    assert mentions("@pavel @olga and again @Olga Petrova, @PAVEL") == [2, 1]


def test_email_addresses_are_not_mentions_but_full_emails_after_at_are() -> None:
    assert mentions("write to olga@shop.test or pavel@shop.test") == []
    assert mentions("@ivan@south.test") == [5]


def test_ambiguity_notifies_nobody_unless_another_reading_is_unique() -> None:
    # Two agents have the handle "ivan"; only one has the name "Ivan".
    assert mentions("@ivan") == [4]
    # "@sasha" is one agent's handle and another agent's name: the handle wins the tie.
    assert mentions("@sasha") == [7]
    assert mentions("@Sasha Ivanova") == [7]
    assert mentions("@nobody, @ and @") == []
    assert mentions("") == []


def test_longer_name_wins_over_a_shorter_handle() -> None:
    handles = [Handle(1, "olga@shop.test", "Olga"), Handle(2, "o.p@shop.test", "Olga Petrova")]
    assert parse_mentions("@Olga Petrova", handles) == [2]
    assert parse_mentions("@Olga Petrovna", handles) == [1]


def test_snippet_is_flat_and_short() -> None:
    assert snippet("a\n\n b   c") == "a b c"
    long = snippet("слово " * 100)
    assert len(long) == 200 and long.endswith("…")
