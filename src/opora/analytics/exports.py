"""A report as CSV or XLSX: the same table the page shows, one row per slice plus the total."""

from __future__ import annotations

import csv
import io

import xlsxwriter

from opora.analytics.definitions import Kind
from opora.analytics.schemas import ReportOut, StatsOut

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def header(kind: Kind) -> list[str]:
    columns = ["key", "label", "count"]
    if kind in (Kind.RATE, Kind.SCORE):
        columns += ["hits", "rate"]
    if kind in (Kind.DURATION, Kind.SCORE):
        columns += ["average", "median", "p90"]
    return columns


def _cells(s: StatsOut, columns: list[str]) -> list[object]:
    values = s.model_dump()
    return [values[c] if values[c] is not None else "" for c in columns]


def table(report: ReportOut) -> list[list[object]]:
    columns = header(report.kind)
    rows: list[list[object]] = [list(columns)]
    rows += [_cells(s, columns) for s in report.rows]
    rows.append(_cells(report.total.model_copy(update={"key": "total"}), columns))
    return rows


def to_csv(report: ReportOut) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            f"# {report.metric.value} by {report.dimension.value}",
            report.start.isoformat(),
            report.end.isoformat(),
        ]
    )
    writer.writerows(table(report))
    # A BOM so that Excel opens Cyrillic labels as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: ReportOut) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet(report.metric.value[:31])
    bold = book.add_format({"bold": True})
    for r, row in enumerate(table(report)):
        for c, value in enumerate(row):
            sheet.write(r, c, value, bold if r == 0 else None)
    sheet.set_column(0, 1, 24)
    book.close()
    return out.getvalue()
