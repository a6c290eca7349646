"""kb starter synonyms: general shop vocabulary every desk's search starts with

A new desk's search knew no synonyms until an admin wrote some, so «посылка» did not find an
article about «заказ», nor «ПВЗ» one about «пункт выдачи». These groups are what almost every
shop's customers and help centre say in two ways. They are ordinary rows of ``kb_synonyms``:
admins edit or delete them on the Synonyms screen like their own.

Written once, by this revision: a migration runs once per database, so a group an admin deleted
is never written again, and re-running ``opora migrate`` writes nothing. A group is left out when
one of its phrases is already in a group of the desk's (an admin's own wording wins). The list
is frozen here, not imported: the revision must write the same rows whatever the code says later.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 16:30:00
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import opora.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STARTER_GROUPS: tuple[tuple[str, ...], ...] = (
    # Russian
    ("посылка", "отправление", "заказ"),
    ("пункт выдачи", "ПВЗ", "постамат", "пункт самовывоза"),
    ("деньги", "средства", "денежные средства"),
    ("оплата", "платёж"),
    ("курьер", "доставщик"),
    ("промокод", "купон", "скидка"),
    ("возврат", "вернуть"),
    ("личный кабинет", "ЛК", "аккаунт", "профиль", "учётная запись"),
    ("оператор", "менеджер", "консультант", "живой человек"),
    ("брак", "дефект", "неисправность"),
    ("обмен", "замена"),
    ("бонусы", "баллы", "кешбэк", "кэшбэк"),
    ("подарочный сертификат", "подарочная карта"),
    ("чек", "квитанция"),
    ("трек-номер", "номер отслеживания"),
    ("СМС", "SMS"),
    ("наличные", "наличка"),
    ("СБП", "система быстрых платежей"),
    ("рассрочка", "кредит", "оплата частями"),
    ("жалоба", "претензия", "рекламация"),
    ("юрлицо", "юридическое лицо"),
    ("накладная", "ТТН"),
    ("опоздание", "задержка"),
    # English
    ("order", "purchase"),
    ("parcel", "package", "shipment"),
    ("invoice", "bill"),
    ("refund", "reimbursement", "money back"),
    ("delivery", "shipping"),
    ("promo code", "coupon", "voucher", "discount code"),
    ("sign up", "register", "registration"),
    ("agent", "operator", "representative", "human"),
    ("customer service", "customer support", "helpdesk"),
    ("newsletter", "mailing list"),
    ("complaint", "grievance"),
    ("review", "feedback"),
    ("payment", "pay"),
    ("cancellation fee", "cancellation charge", "cancellation penalty"),
    ("tracking number", "tracking code"),
    ("password", "passcode"),
    ("change", "modify", "edit"),
)

_synonyms = sa.table(
    "kb_synonyms",
    sa.column("id", sa.BigInteger()),
    sa.column("phrases", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")),
    sa.column("created_by", sa.BigInteger()),
    sa.column("created_at", opora.db.UTCDateTime(timezone=True)),
    sa.column("updated_at", opora.db.UTCDateTime(timezone=True)),
)
_WORD = re.compile(r"[^\W_]+")


def _key(phrase: str) -> str:
    """A phrase as search compares it, near enough: case, «ё» and punctuation ignored."""
    return " ".join(_WORD.findall(phrase.casefold().replace("ё", "е")))


def upgrade() -> None:
    connection = op.get_bind()
    taken = {
        _key(p) for (phrases,) in connection.execute(sa.select(_synonyms.c.phrases)) for p in phrases or ()
    }
    now = datetime.now(UTC)
    rows = [
        {"phrases": list(group), "created_by": None, "created_at": now, "updated_at": now}
        for group in STARTER_GROUPS
        if not any(_key(p) in taken for p in group)
    ]
    if rows:
        op.bulk_insert(_synonyms, rows)


def downgrade() -> None:
    # Only the starter groups nobody edited: an admin's change or own group is the desk's data.
    connection = op.get_bind()
    starter = {tuple(group) for group in STARTER_GROUPS}
    for row_id, phrases in connection.execute(sa.select(_synonyms.c.id, _synonyms.c.phrases)).all():
        if tuple(phrases or ()) in starter:
            connection.execute(sa.delete(_synonyms).where(_synonyms.c.id == row_id))
