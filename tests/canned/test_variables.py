from opora.canned.variables import RenderContext, first_name, fold, search_text, values_for
from opora.kit.placeholders import render


def test_fold_handles_cyrillic_case_yo_and_spaces() -> None:
    assert fold("  ДОСТАВКА   Заказа ") == "доставка заказа"
    assert fold("Ещё РАЗ") == "еще раз"
    assert fold("Straße") == "strasse"


def test_search_text_keeps_fields_apart() -> None:
    text = search_text(title="Возврат", body="Деньги вернутся", shortcut="refund", tags=["оплата"])
    assert text.split("\n") == ["возврат", "refund", "оплата", "деньги вернутся"]


def test_first_name() -> None:
    assert first_name("Ирина Петрова") == "Ирина"
    assert first_name("  ") is None
    assert first_name(None) is None


def test_values_fill_a_template_with_fallbacks() -> None:
    context = RenderContext(
        ticket_number=42,
        ticket_subject="Где заказ?",
        ticket_status="open",
        customer_name="",
        customer_email=None,
        agent_name="Ольга Смирнова",
        order_number=None,
    )
    text = render(
        "{{customer.first_name|Здравствуйте}}! Заказ {{order.number|без номера}}, #{{ticket.number}}. "
        "{{agent.first_name}}",
        values_for(context),
    )
    assert text == "Здравствуйте! Заказ без номера, #42. Ольга"
