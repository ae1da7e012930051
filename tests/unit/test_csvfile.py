"""CSV dialects instruments export, read by the drop-folder source: a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edgetwin.edge.sources.csvfile import IncompleteFileError, MalformedFileError, parse

NUMBERS = {"temperature": "Temp_C", "length": "Length_mm"}
TEXTS = {"part_serial": "Serial"}
WANT = {"temperature": 21.5, "length": 100.0042}


@pytest.mark.parametrize(
    "data",
    [
        b"Timestamp,Temp_C,Length_mm,Serial\n2026-01-02T03:04:05Z,21.5,100.0042,P-1\n",
        b"Timestamp;Temp_C;Length_mm;Serial\r\n2026-01-02T03:04:05Z;21,5;100,0042;P-1\r\n",
        b"\xef\xbb\xbfTimestamp,Temp_C,Length_mm,Serial\r\n2026-01-02T03:04:05Z,21.5,100.0042,P-1\r\n",
        b"Timestamp\tTemp_C\tLength_mm\tSerial\n2026-01-02T03:04:05,21.5,100.0042,P-1\n".replace(
            b",", b"\t"
        ),
        b'Serial,Length_mm,Timestamp,Temp_C\n"P-1",100.0042,2026-01-02T04:04:05+01:00,21.5\n\n',
    ],
    ids=["comma", "semicolon-decimal-comma-crlf", "bom-crlf", "tab-naive-utc", "reordered"],
)
def test_dialects(data: bytes) -> None:
    (row,) = parse(data, timestamp="Timestamp", numbers=NUMBERS, texts=TEXTS)
    assert row.values == WANT
    assert row.texts == {"part_serial": "P-1"}
    assert row.ts == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert row.number == 1


def test_the_dialect_can_be_forced() -> None:
    data = b"Timestamp;Temp_C;Length_mm;Serial\n2026-01-02T03:04:05Z;21.5;100.0042;P-1\n"
    (row,) = parse(data, timestamp="Timestamp", numbers=NUMBERS, texts=TEXTS, decimal=".")
    assert row.values == WANT


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Timestamp,Temp_C,Length_mm,Serial\n",
        b"Timestamp,Temp_C,Length_mm,Serial\n2026-01-02T03:04:05Z,21.5,100.0",
    ],
    ids=["empty", "header-only", "half-a-row"],
)
def test_incomplete_files_wait(data: bytes) -> None:
    with pytest.raises(IncompleteFileError):
        parse(data, timestamp="Timestamp", numbers=NUMBERS, texts=TEXTS)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"Timestamp,Temp_C,Serial\n2026-01-02T03:04:05Z,21.5,P-1\n", "no column 'Length_mm'"),
        (b"Timestamp,Temp_C,Length_mm,Serial\nnow,21.5,100,P-1\n", "not an ISO-8601"),
        (b"Timestamp,Temp_C,Length_mm,Serial\n2026-01-02T03:04:05Z,hot,100,P\n", "not a number"),
        (b"Timestamp,Temp_C,Length_mm,Serial\n2026-01-02T03:04:05Z,21.5,100\n", "3 fields"),
        (b"Timestamp,Temp_C,Length_mm,Serial\n\xff\xfe,1,2,3\n", "not UTF-8"),
    ],
)
def test_malformed_files_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedFileError, match=reason):
        parse(data, timestamp="Timestamp", numbers=NUMBERS, texts=TEXTS)
