"""The statistics tables (``client.stats.StatTable``) as CSV files and an XLSX workbook.

Each renderer reads only the table model: its name, title, typed columns and plain cells.
Carats are written with two decimals (the logs count centicarats), US dollars with two
(the logs count cents); a value the reader could not read is an empty cell.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xlsxwriter

from client.stats import Column, StatTable

__all__ = ["cell_text", "write_csv", "write_xlsx"]

_SHEET_NAME = 31  # Excel's limit on a sheet name


def cell_text(column: Column, cell: Any) -> str:
    """A cell as text: carats and dollars with two decimals, entries space-separated."""
    if cell is None:
        return ""
    if column.kind in ("centicarats", "usd_cents"):
        sign = "-" if cell < 0 else ""
        whole, cents = divmod(abs(int(cell)), 100)
        return f"{sign}{whole}.{cents:02d}"
    if column.kind == "entries":
        return " ".join(cell)
    return str(cell)


def write_csv(tables: Sequence[StatTable], target: Path) -> list[Path]:
    """One ``<name>.csv`` per table in the directory ``target`` (made if missing), or, when
    ``target`` ends in ``.csv``, every table in that one file, each after a line with its title
    and before a blank line. Returns the files written."""
    if target.suffix.lower() == ".csv":
        with target.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            for table in tables:
                writer.writerow([table.title])
                _write_rows(writer, table)
                writer.writerow([])
        return [target]
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        path = target / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            _write_rows(csv.writer(handle), table)
        written.append(path)
    return written


def _write_rows(writer: Any, table: StatTable) -> None:
    writer.writerow([c.name for c in table.columns])
    for row in table.rows:
        writer.writerow([cell_text(c, v) for c, v in zip(table.columns, row, strict=True)])


def write_xlsx(tables: Sequence[StatTable], target: Path) -> None:
    """A workbook at ``target`` with one sheet per table: a title row, a header, the rows;
    carats and dollars as numbers with two decimals."""
    workbook = xlsxwriter.Workbook(str(target))
    try:
        bold = workbook.add_format({"bold": True})
        decimal = workbook.add_format({"num_format": "#,##0.00"})
        for table in tables:
            sheet = workbook.add_worksheet(table.name[:_SHEET_NAME])
            sheet.write(0, 0, table.title, bold)
            for col, column in enumerate(table.columns):
                sheet.write(1, col, column.name, bold)
                sheet.set_column(col, col, max(12, len(column.name) + 2))
            for r, row in enumerate(table.rows, start=2):
                for col, (column, cell) in enumerate(zip(table.columns, row, strict=True)):
                    if cell is None:
                        continue
                    if column.kind in ("centicarats", "usd_cents"):
                        sheet.write_number(r, col, cell / 100, decimal)
                    elif column.kind == "count":
                        sheet.write_number(r, col, cell)
                    else:
                        sheet.write_string(r, col, cell_text(column, cell))
    finally:
        workbook.close()
