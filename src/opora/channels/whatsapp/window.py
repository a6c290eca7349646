"""WhatsApp's customer-service window: a free-form reply is accepted only within 24 hours of the
customer's last message; after that only pre-approved templates go through. Pure rules and the
explanation the agent sees."""

from __future__ import annotations

from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)
# The Graph API's code for "re-engagement message": the window was closed when we sent.
WINDOW_CLOSED_CODE = 131047

WINDOW_CLOSED = (
    "whatsapp_window_closed: WhatsApp accepts a free-form reply only within 24 hours of the "
    "customer's last message, and that was longer ago. The reply was not sent: answer again after "
    "the customer writes, or use another channel.\n"
    "Окно 24 часа закрыто: WhatsApp принимает обычный ответ только в течение 24 часов после "
    "последнего сообщения клиента, а оно было раньше. Ответ не отправлен: ответьте снова, когда "
    "клиент напишет, или используйте другой канал."
)


def window_open(last_customer_message_at: datetime | None, now: datetime) -> bool:
    """Without any customer message (a ticket opened by an agent) there is no window at all."""
    return last_customer_message_at is not None and now - last_customer_message_at < WINDOW
