"""First load of orders from a CSV file: every row is checked before any is written. Pure."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from opora.customers import identity as ident
from opora.customers.models import IdentityKind
from opora.kit.errors import InvalidInput
from opora.shop.adapters import OrderData, PayloadError, parse_generic
from opora.shop.money import to_minor

COLUMNS = (
    "external_id",
    "number",
    "status",
    "currency",
    "total",
    "placed_at",
    "updated_at",
    "customer_external_id",
    "customer_email",
    "customer_phone",
    "customer_name",
    "delivery_method",
    "tracking_number",
    "tracking_url",
)
REQUIRED = ("external_id", "number", "total", "placed_at")
MAX_ROWS = 50_000


@dataclass(frozen=True)
class RowError:
    line: int  # as a spreadsheet shows it: the header is line 1
    field: str
    message: str


def parse(text: str, *, default_currency: str) -> tuple[list[OrderData], list[RowError]]:
    """All rows as orders, or the errors of every bad row (then nothing is to be imported)."""
    # Excel saves UTF-8 with a BOM and often ";" as the separator in Russian locales.
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [RowError(1, c, "the column is missing") for c in missing]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        return [], [RowError(1, h, "unknown column") for h in unknown]
    reader.fieldnames = header
    orders: list[OrderData] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if line - 1 > MAX_ROWS:
            errors.append(RowError(line, "", f"at most {MAX_ROWS} rows per file"))
            break
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        try:
            order = _order(row, default_currency)
        except PayloadError as exc:
            errors.append(RowError(line, exc.field, str(exc)))
            continue
        if order.external_id in seen:
            errors.append(RowError(line, "external_id", f"repeats line {seen[order.external_id]}"))
            continue
        seen[order.external_id] = line
        orders.append(order)
    return (orders, []) if not errors else ([], errors)


def _order(row: dict[str, str | None], default_currency: str) -> OrderData:
    get = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
    for kind, key in ((IdentityKind.EMAIL, "customer_email"), (IdentityKind.PHONE, "customer_phone")):
        if get.get(key):
            try:
                ident.normalize_value(kind, get[key])
            except InvalidInput as exc:
                raise PayloadError(exc.message, key) from None
    data = parse_generic(
        {
            "external_id": get.get("external_id"),
            "number": get.get("number"),
            "status": get.get("status") or "new",
            "currency": get.get("currency"),
            "total": get.get("total"),
            "placed_at": get.get("placed_at"),
            "updated_at": get.get("updated_at") or None,
            "delivery_method": get.get("delivery_method"),
            "tracking_number": get.get("tracking_number"),
            "tracking_url": get.get("tracking_url"),
            "customer": {
                "external_id": get.get("customer_external_id"),
                "email": get.get("customer_email"),
                "phone": get.get("customer_phone"),
                "name": get.get("customer_name"),
            },
        },
        default_currency=default_currency,
    )
    try:
        to_minor(data.total, data.currency)
    except ValueError as exc:
        raise PayloadError(str(exc), "total") from None
    return data
