"""Parsing one CSV file of measurements, in the dialects instruments export. Pure code.

Handled: comma, semicolon or tab as the delimiter (``auto`` looks at the header), a decimal
point or a decimal comma (``auto``: a comma when the delimiter is a semicolon), UTF-8 with or
without a byte-order mark, LF or CRLF line ends. A file is *complete* when it ends with a line
end and every data row has as many fields as the header; :class:`IncompleteFileError` says
"not yet" (the writer may still be writing), :class:`MalformedFileError` says "never".
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime


class IncompleteFileError(Exception):
    """The file does not end with a whole row yet."""


class MalformedFileError(Exception):
    """The file can never be read as configured; ``str()`` is the reason for people."""


@dataclass(frozen=True)
class Row:
    """One data row: ``number`` counts data rows from 1; ``ts`` is UTC."""

    number: int
    ts: datetime
    values: dict[str, float]
    texts: dict[str, str]


def parse(
    data: bytes,
    *,
    timestamp: str,
    numbers: dict[str, str],
    texts: dict[str, str],
    delimiter: str = "auto",
    decimal: str = "auto",
) -> list[Row]:
    """Rows of a CSV file.

    Args:
        data: the file's bytes.
        timestamp: the column holding an ISO-8601 timestamp (no offset: UTC).
        numbers: name -> column, for the numeric values.
        texts: name -> column, for text values (a part serial).
        delimiter: ``,``, ``;``, a tab, or ``auto``.
        decimal: ``.``, ``,`` or ``auto``.

    Raises:
        IncompleteFileError: no line end at the end yet, or no data row yet.
        MalformedFileError: not UTF-8, a missing column, a bad number or timestamp, a row with
            the wrong number of fields.
    """
    if not data.endswith((b"\n", b"\r")):
        raise IncompleteFileError("the last row has no line end yet")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedFileError(f"not UTF-8: {exc}") from exc
    header_line = text.splitlines()[0] if text else ""
    if delimiter == "auto":
        counts = {d: header_line.count(d) for d in (",", ";", "\t")}
        delimiter = max(counts, key=lambda d: counts[d])
    if decimal == "auto":
        decimal = "," if delimiter == ";" else "."
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise IncompleteFileError("no data row yet")
    header = [h.strip() for h in rows[0]]
    index: dict[str, int] = {}
    for column in [timestamp, *numbers.values(), *texts.values()]:
        if column not in header:
            raise MalformedFileError(f"no column {column!r} (columns: {', '.join(header)})")
        index[column] = header.index(column)
    out = []
    for n, cells in enumerate(rows[1:], start=1):
        if len(cells) != len(header):
            raise MalformedFileError(f"row {n}: {len(cells)} fields, the header has {len(header)}")
        values = {}
        for name, column in numbers.items():
            cell = cells[index[column]].strip()
            try:
                values[name] = float(cell.replace(",", ".") if decimal == "," else cell)
            except ValueError:
                raise MalformedFileError(f"row {n}: {column}: not a number: {cell!r}") from None
        out.append(
            Row(
                number=n,
                ts=_timestamp(cells[index[timestamp]].strip(), n),
                values=values,
                texts={name: cells[index[col]].strip() for name, col in texts.items()},
            )
        )
    return out


def _timestamp(cell: str, n: int) -> datetime:
    try:
        ts = datetime.fromisoformat(cell.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedFileError(f"row {n}: not an ISO-8601 timestamp: {cell!r}") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
