"""The demo shop «Ромашка»: people and conversations that look like a real week of support."""

from __future__ import annotations

from dataclasses import dataclass, field

TEAMS = [
    ("Первая линия", "Общие вопросы: заказы, доставка, сайт / First line: orders, delivery, the site"),
    ("Возвраты и оплата", "Возвраты, возмещения, платежи / Returns, refunds, payments"),
]

# (email, name, role, language, team index or None)
AGENTS = [
    ("admin@romashka.example", "Анна Смирнова", "admin", "ru", None),
    ("sergey@romashka.example", "Сергей Волков", "supervisor", "ru", None),
    ("olga@romashka.example", "Ольга Петрова", "agent", "ru", 0),
    ("dmitry@romashka.example", "Дмитрий Козлов", "agent", "ru", 0),
    ("maria@romashka.example", "Мария Иванова", "agent", "ru", 1),
    ("john@romashka.example", "John Carter", "agent", "en", 1),
    ("rita@romashka.example", "Маргарита Орлова", "readonly", "ru", 0),
]


@dataclass
class DemoTicket:
    customer: tuple[str, str, str, str]  # identity kind, value, name, language
    channel: str
    subject: str
    team: int
    hours_ago: float
    messages: list[tuple[str, str]]  # (author: customer / agent / note, text)
    status: str = "new"
    priority: str = "normal"
    assignee: str | None = None
    tags: list[str] = field(default_factory=list)
    topic: str | None = None


TICKETS = [
    DemoTicket(
        ("email", "irina.sokolova@mail.example", "Ирина Соколова", "ru"),
        "email",
        "Где мой заказ 10452?",
        0,
        30,
        [
            (
                "customer",
                "Здравствуйте! Заказ 10452 оформлен неделю назад, статус не меняется. Когда доставят?",
            ),
            (
                "agent",
                "Ирина, добрый день! Заказ передан в СДЭК, трек-номер 1234567890. Ожидаемая доставка — "
                "в четверг.",
            ),
            ("customer", "Спасибо, посмотрю по треку."),
        ],
        status="solved",
        assignee="olga@romashka.example",
        tags=["доставка"],
        topic="delivery",
    ),
    DemoTicket(
        ("telegram", "508114273", "Алексей", "ru"),
        "telegram",
        "",
        0,
        2,
        [("customer", "Добрый вечер, можно поменять адрес доставки? Я переехал на другую улицу")],
        tags=["доставка"],
        topic="delivery",
    ),
    DemoTicket(
        ("email", "k.morozova@yandex.example", "Ксения Морозова", "ru"),
        "email",
        "Возврат платья",
        1,
        50,
        [
            ("customer", "Хочу вернуть платье, не подошёл размер. Заказ 10388. Как оформить возврат?"),
            (
                "agent",
                "Ксения, здравствуйте! Оформить возврат можно в личном кабинете или в любом ПВЗ. "
                "Деньги вернутся в течение 10 дней после получения товара.",
            ),
            ("note", "Клиентка постоянная, можно предложить бесплатную обратную доставку."),
            ("customer", "Сдала в ПВЗ вчера, когда придут деньги?"),
        ],
        status="open",
        assignee="maria@romashka.example",
        tags=["возврат"],
        topic="returns",
        priority="high",
    ),
    DemoTicket(
        ("webchat", "v-3f9a1c", "Посетитель сайта", "ru"),
        "webchat",
        "",
        0,
        0.3,
        [("customer", "Промокод ОСЕНЬ15 не применяется к корзине, пишет что истёк")],
        tags=["промокод"],
        topic="payment",
    ),
    DemoTicket(
        ("whatsapp", "+79161234567", "Наталья Кузнецова", "ru"),
        "whatsapp",
        "",
        1,
        6,
        [
            ("customer", "Списали деньги дважды за заказ 10501!! Верните немедленно"),
            (
                "agent",
                "Наталья, приносим извинения. Проверяем платёж, второе списание — это блокировка банка, "
                "она снимется автоматически в течение 3 дней.",
            ),
        ],
        status="pending",
        assignee="maria@romashka.example",
        tags=["оплата", "vip"],
        topic="payment",
        priority="urgent",
    ),
    DemoTicket(
        ("email", "emily.brown@example.com", "Emily Brown", "en"),
        "email",
        "Order 10477 arrived damaged",
        1,
        20,
        [
            (
                "customer",
                "Hello, my order 10477 arrived with a broken lamp shade. Photos attached. "
                "Can I get a replacement?",
            ),
            (
                "agent",
                "Hi Emily, I am sorry about that. We are sending a replacement today; no need to "
                "return the broken one.",
            ),
        ],
        status="solved",
        assignee="john@romashka.example",
        tags=["damaged"],
        topic="returns",
    ),
    DemoTicket(
        ("vk", "id18273645", "Павел Никитин", "ru"),
        "vk",
        "",
        0,
        4,
        [
            ("customer", "Здравствуйте, есть ли у вас пункты выдачи в Казани?"),
            ("agent", "Павел, здравствуйте! Да, в Казани 12 пунктов выдачи, список на странице «Доставка»."),
        ],
        status="solved",
        assignee="dmitry@romashka.example",
        topic="delivery",
    ),
    DemoTicket(
        ("phone", "+79031112233", "Виктор Павлов", "ru"),
        "phone",
        "Пропущенный звонок",
        0,
        1,
        [("customer", "Пропущенный звонок с номера +7 903 111-22-33 в 14:05")],
        tags=["звонок"],
    ),
    DemoTicket(
        ("email", "michael.lee@example.com", "Michael Lee", "en"),
        "email",
        "Do you ship to Kazakhstan?",
        0,
        12,
        [("customer", "Hi! Do you deliver to Almaty, and how long does it take?")],
        assignee="olga@romashka.example",
        topic="delivery",
    ),
    DemoTicket(
        ("email", "s.fedorov@mail.example", "Станислав Фёдоров", "ru"),
        "email",
        "Не приходит код подтверждения",
        0,
        3,
        [("customer", "Не могу войти в личный кабинет, СМС с кодом не приходит уже час")],
        status="open",
        assignee="dmitry@romashka.example",
        tags=["сайт"],
        topic="technical",
        priority="high",
    ),
    DemoTicket(
        ("telegram", "771002939", "Елена", "ru"),
        "telegram",
        "",
        1,
        26,
        [
            ("customer", "Как вернуть деньги за отменённый заказ 10420?"),
            ("agent", "Елена, деньги за отменённый заказ возвращаются на карту за 3–5 рабочих дней."),
            ("customer", "Прошла неделя, денег нет"),
            ("note", "Проверить в платёжном шлюзе, возможно возврат завис."),
        ],
        status="on_hold",
        assignee="maria@romashka.example",
        tags=["возврат", "оплата"],
        topic="payment",
    ),
    DemoTicket(
        ("web_form", "anna.belova@example.org", "Анна Белова", "ru"),
        "web_form",
        "Оптовая закупка",
        0,
        40,
        [("customer", "Интересует оптовая закупка пледов, от 200 штук. С кем можно обсудить условия?")],
        status="open",
        tags=["опт"],
        topic="sales",
    ),
    DemoTicket(
        ("email", "david.wilson@example.com", "David Wilson", "en"),
        "email",
        "Refund for order 10399",
        1,
        70,
        [
            ("customer", "I returned the order two weeks ago and still have no refund."),
            ("agent", "Hi David, the refund was issued today; it takes up to 5 business days to appear."),
            ("customer", "Got it, thanks!"),
        ],
        status="closed",
        assignee="john@romashka.example",
        topic="returns",
    ),
    DemoTicket(
        ("api", "shop-customer-88412", "Галина Орлова", "ru"),
        "api",
        "Отзыв о товаре с сайта",
        0,
        8,
        [("customer", "Плед пришёл другого цвета, чем на фото. Очень расстроена.")],
        tags=["качество"],
        topic="quality",
        priority="high",
    ),
]


# (name, priorities, first response, next response, resolution) in business minutes
SLA_POLICIES = [
    ("Срочные и важные / Urgent and high", ["urgent", "high"], 30, 60, 8 * 60),
    ("Стандарт / Standard", [], 4 * 60, 8 * 60, 3 * 12 * 60),
]

# (title, body, shortcut, language)
CANNED = [
    (
        "Заказ в пути",
        "Здравствуйте, {{customer.first_name|покупатель}}! Ваш заказ {{order.number}} уже в пути, "
        "трек-номер придёт в SMS. Если что-то пойдёт не так — напишите нам.\n\n{{agent.name}}, «Ромашка»",
        "vputi",
        "ru",
    ),
    (
        "Как оформить возврат",
        "Здравствуйте, {{customer.first_name|покупатель}}! Вернуть товар можно в течение 14 дней: "
        "оформите заявку в личном кабинете, раздел «Мои заказы» → «Вернуть». Деньги придут на карту "
        "за 3–10 рабочих дней после получения товара.\n\n{{agent.name}}",
        "vozvrat",
        "ru",
    ),
    (
        "Извинение за задержку",
        "{{customer.first_name|Здравствуйте}}, простите за задержку с ответом. Уже разбираемся с "
        "обращением №{{ticket.number}} и вернёмся с ответом сегодня.\n\n{{agent.name}}",
        "izvini",
        "ru",
    ),
    (
        "Order on its way",
        "Hello {{customer.first_name|there}}, your order {{order.number}} is on its way; the tracking "
        "number comes by SMS.\n\n{{agent.name}}, Romashka",
        "shipped",
        "en",
    ),
]
