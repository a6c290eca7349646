from opora.kit.placeholders import names_in, render, unknown_in


def test_known_names_are_filled_and_missing_values_take_their_fallback() -> None:
    text = "Здравствуйте, {{ customer.first_name|клиент }}! Заказ {{order.number}}. {{agent.name}}"
    out = render(text, {"customer.first_name": None, "order.number": "A-17", "agent.name": "Ольга"})
    assert out == "Здравствуйте, клиент! Заказ A-17. Ольга"


def test_unknown_names_stay_as_written_and_nothing_is_evaluated() -> None:
    text = "{{ customer.__class__ }} {{ 7*7 }} {{ custmer.name }}"
    assert render(text, {"customer.name": "Ivan"}) == text


def test_names_and_unknown_names_are_listed_in_order() -> None:
    text = "{{ticket.number}} {{foo.bar}} {{ticket.number}} {{agent.name}}"
    assert names_in(text) == ["ticket.number", "foo.bar", "agent.name"]
    assert unknown_in(text) == ["foo.bar"]
