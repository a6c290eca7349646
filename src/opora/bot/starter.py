"""Starter intents for an online shop, in Russian and English, written for Opora.

A shop loads them once (``POST /api/v1/bot/starter``) and edits them: the replies are templates
with the shop's own placeholders, and the example phrases are what the model learns from.
``OUT_OF_SCOPE`` phrases are never answered; they only teach the threshold what "not ours" looks
like, so that the bot abstains on small talk and on questions no intent covers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StarterIntent:
    key: str
    title: str
    reply: str
    handoff: bool
    examples: tuple[str, ...]


def _i(key: str, title: str, reply: str, examples: str, *, handoff: bool = False) -> StarterIntent:
    return StarterIntent(
        key, title, reply, handoff, tuple(e.strip() for e in examples.split("|") if e.strip())
    )


RU: tuple[StarterIntent, ...] = (
    _i(
        "order_status",
        "Статус заказа",
        "Сейчас посмотрю заказ {{order.number}}: {{order.status}}.",
        "где мой заказ|какой статус у заказа 12345|заказ до сих пор в обработке, почему|когда отправят мой заказ"
        "|подскажите, отправлен ли заказ|не могу найти заказ в личном кабинете|что с моим заказом?"
        "|заказ оформил неделю назад, ничего не происходит|можно узнать статус заказа номер 5562301|gde moi zakaz",
    ),
    _i(
        "delivery",
        "Доставка: сроки и стоимость",
        "Доставка по городу — 1–2 дня, стоимость видна в корзине.",
        "сколько стоит доставка|за сколько дней доставите в Казань|доставляете ли вы в область|какие сроки доставки"
        "|есть ли бесплатная доставка|можно доставить сегодня вечером|доставка курьером сколько стоит"
        "|вы отправляете почтой россии?|когда приедет курьер|можно выбрать время доставки",
    ),
    _i(
        "returns",
        "Возврат товара",
        "Вернуть товар можно в течение 14 дней: оформите возврат в личном кабинете.",
        "хочу вернуть товар|как оформить возврат|товар не подошёл, можно вернуть?|пришёл брак, хочу вернуть"
        "|вернуть кроссовки, не подошёл размер|куда отнести товар на возврат|можно ли вернуть без чека"
        "|сколько дней на возврат|возврат товара надлежащего качества|как отправить товар обратно",
    ),
    _i(
        "refund",
        "Возврат денег",
        "Деньги возвращаются на карту в течение 10 рабочих дней после возврата.",
        "когда вернут деньги|деньги за возврат так и не пришли|верните деньги за отменённый заказ"
        "|сколько ждать возврата средств|оформила возврат, а денег нет|куда придут деньги за возврат"
        "|мне не вернули деньги|хочу получить деньги обратно|возврат средств на карту|деньги списали, а заказ отменён",
    ),
    _i(
        "payment",
        "Оплата",
        "Мы принимаем карты, СБП и оплату при получении.",
        "какие способы оплаты|можно оплатить при получении|не проходит оплата картой|деньги списали дважды"
        "|оплата по сбп возможна?|ошибка при оплате заказа|можно ли оплатить в рассрочку|не приходит код для оплаты"
        "|как оплатить заказ|оплатил, а заказ не оплачен",
    ),
    _i(
        "promo_code",
        "Промокоды и скидки",
        "Промокод вводится в корзине; скидки не суммируются.",
        "промокод не работает|куда ввести промокод|есть ли скидки сейчас|промокод не применяется к заказу"
        "|почему не сработала скидка|как получить скидку на первый заказ|не пришёл промокод за отзыв"
        "|скидка по карте лояльности|акция не применилась|можно использовать два промокода",
    ),
    _i(
        "cancel_order",
        "Отмена заказа",
        "Заказ можно отменить в личном кабинете, пока он не передан в доставку.",
        "хочу отменить заказ|как отменить заказ|отмените пожалуйста мой заказ|передумала, отмените заказ"
        "|можно ли отменить заказ после оплаты|отказаться от заказа|отмена заказа 4581|случайно оформил заказ, отмените",
    ),
    _i(
        "change_order",
        "Изменение заказа",
        "Изменить заказ можно до отправки — напишите, что поменять.",
        "хочу изменить адрес доставки|поменять размер в заказе|добавить товар в заказ|изменить время доставки"
        "|можно поменять получателя|заказал не тот цвет, можно заменить|изменить количество в заказе"
        "|перенести доставку на другой день",
    ),
    _i(
        "product_info",
        "Наличие и товар",
        "Наличие и характеристики указаны на странице товара.",
        "есть ли в наличии|когда появится товар|какой размер выбрать|из какого материала сделано"
        "|есть ли гарантия на товар|будет ли этот товар снова в продаже|подскажите по размерной сетке"
        "|чем отличаются эти модели",
    ),
    _i(
        "account",
        "Личный кабинет",
        "Восстановить доступ можно по ссылке «Забыли пароль?» на странице входа.",
        "не могу войти в личный кабинет|забыл пароль|как поменять телефон в профиле|не приходит смс для входа"
        "|как удалить аккаунт|как зарегистрироваться|как поменять email в аккаунте|аккаунт заблокирован",
    ),
    _i(
        "complaint",
        "Жалоба",
        "Нам очень жаль. Передаю ваше обращение старшему специалисту.",
        "хочу оставить жалобу|ужасное обслуживание|курьер нагрубил|это безобразие, третий раз привозят не то"
        "|очень недоволен вашим магазином|претензия по качеству обслуживания|оператор был груб"
        "|буду жаловаться в роспотребнадзор",
        handoff=True,
    ),
    _i(
        "contact_person",
        "Связаться с человеком",
        "Передаю разговор специалисту.",
        "позовите оператора|хочу поговорить с человеком|соедините с живым оператором|нужен менеджер"
        "|можно с сотрудником поговорить|оператор!|свяжите меня со специалистом|не хочу с ботом",
        handoff=True,
    ),
)

EN: tuple[StarterIntent, ...] = (
    _i(
        "order_status",
        "Order status",
        "Let me check order {{order.number}}: {{order.status}}.",
        "where is my order|what is the status of order 12345|my order is still processing, why|when will my order ship"
        "|has my order been sent|I can't find my order in my account|what's happening with my order?"
        "|ordered a week ago and nothing happened|track my order|can you check order number 5562301",
    ),
    _i(
        "delivery",
        "Delivery times and cost",
        "Delivery in town takes 1–2 days; the cost is shown in the cart.",
        "how much is delivery|how long does shipping take|do you deliver to my area|what are the delivery times"
        "|is there free shipping|can you deliver today|how much does courier delivery cost|do you ship abroad"
        "|when will the courier arrive|can I choose a delivery slot",
    ),
    _i(
        "returns",
        "Returns",
        "You can return an item within 14 days: start a return in your account.",
        "I want to return an item|how do I return something|the item doesn't fit, can I return it"
        "|it arrived broken, I want to return it|return shoes, wrong size|where do I take a return"
        "|can I return without a receipt|how many days do I have to return|how do I send the item back",
    ),
    _i(
        "refund",
        "Refunds",
        "Refunds reach your card within 10 business days after the return.",
        "when will I get my money back|my refund hasn't arrived|refund my cancelled order|how long does a refund take"
        "|I returned it but got no money|where will the refund go|you didn't refund me|I want my money back"
        "|refund to my card|I was charged but the order was cancelled",
    ),
    _i(
        "payment",
        "Payment",
        "We accept cards, bank transfer and cash on delivery.",
        "what payment methods do you accept|can I pay on delivery|my card payment fails|I was charged twice"
        "|payment error at checkout|can I pay in instalments|I paid but the order shows unpaid|how do I pay for my order",
    ),
    _i(
        "promo_code",
        "Promo codes and discounts",
        "Enter the promo code in the cart; discounts do not stack.",
        "promo code doesn't work|where do I enter a promo code|are there any discounts now|the coupon isn't applied"
        "|why didn't my discount work|discount for the first order|can I use two promo codes|the sale price wasn't applied",
    ),
    _i(
        "cancel_order",
        "Cancel an order",
        "You can cancel an order in your account until it is handed to delivery.",
        "I want to cancel my order|how do I cancel an order|please cancel my order|changed my mind, cancel the order"
        "|can I cancel after paying|cancel order 4581|I ordered by mistake, cancel it",
    ),
    _i(
        "change_order",
        "Change an order",
        "An order can be changed before dispatch: tell us what to change.",
        "I need to change the delivery address|change the size in my order|add an item to my order"
        "|change the delivery time|can I change the recipient|wrong colour ordered, can you swap it"
        "|change the quantity in my order|move delivery to another day",
    ),
    _i(
        "product_info",
        "Products and stock",
        "Stock and details are on the product page.",
        "is this in stock|when will it be back in stock|which size should I choose|what is it made of"
        "|is there a warranty|will this product be available again|help with the size chart|what's the difference between these models",
    ),
    _i(
        "account",
        "Account and login",
        "Use “Forgot password?” on the sign-in page to get back in.",
        "I can't log in|forgot my password|how do I change my phone number in my profile|login code never arrives"
        "|how do I delete my account|how do I sign up|change my email address|my account is locked",
    ),
    _i(
        "complaint",
        "Complaint",
        "We are very sorry. I am passing this to a senior specialist.",
        "I want to file a complaint|terrible service|the courier was rude|this is outrageous, wrong item again"
        "|very unhappy with your shop|complaint about customer service|your agent was rude|I will report you",
        handoff=True,
    ),
    _i(
        "contact_person",
        "Talk to a person",
        "Passing you to a specialist.",
        "let me talk to a human|I want a real person|connect me to an agent|I need a manager|can I speak to someone"
        "|operator!|get me a specialist|I don't want a bot",
        handoff=True,
    ),
)


def _phrases(joined: str) -> tuple[str, ...]:
    return tuple(joined.split("|"))


OUT_OF_SCOPE: dict[str, tuple[str, ...]] = {
    "ru": _phrases(
        "какая погода завтра|расскажи анекдот|сколько будет два плюс два|кто выиграл вчера матч|как приготовить борщ"
        "|посоветуй фильм на вечер|переведи слово на английский|какой сегодня курс доллара|ты умеешь петь?"
        "|как дела у тебя|сколько лет земле|поставь будильник на семь|где ближайшая аптека|как научиться программировать"
        "|вы продаёте квартиры?|сколько стоит биткоин"
    ),
    "en": _phrases(
        "what's the weather tomorrow|tell me a joke|what is two plus two|who won the game last night|how do I cook pasta"
        "|recommend a movie|translate this word to french|what's the dollar exchange rate|can you sing"
        "|how are you doing|how old is the earth|set an alarm for seven|where is the nearest pharmacy|how to learn to code"
        "|do you sell apartments|what's the price of bitcoin"
    ),
}

STARTER: dict[str, tuple[StarterIntent, ...]] = {"ru": RU, "en": EN}
