"""CSV files: each row as `Header: cell · Header: cell` under the file's title."""

from __future__ import annotations

import csv
import io

from retrieval.loaders.assembly import DocumentBuilder, table_row_text


def read_csv(text: str, builder: DocumentBuilder) -> None:
    """Add a CSV file's rows to `builder`, the first row read as the column headers."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096])
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    if not rows:
        return
    headers = rows[0]
    for row in rows[1:] or rows:
        builder.add("table_row", table_row_text(headers if len(rows) > 1 else [], row), tight=True)
