"""Reading texts from files: `.txt` (one text per line) and `.jsonl` (one JSON object or string per line).

Both may be gzip-compressed (`.gz`). A JSONL object gives its text in `field` (default "text"),
and optionally an "id" and a "group" (texts of one group are related, for the contrast score).
Blank lines are skipped; ids default to the text's position among the texts read.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import VectroError


@dataclass
class Texts:
    """Texts with their ids (str) and groups (None where a text has none)."""

    texts: list[str]
    ids: list[str]
    groups: list[str | None]


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_texts(path, field: str = "text") -> Texts:
    """Texts from a .txt or .jsonl file (optionally .gz); VectroError naming the line that is wrong."""
    path = Path(path)
    kind = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
    if kind not in (".txt", ".jsonl"):
        raise VectroError(f"{path}: texts must be a .txt (one per line) or .jsonl file, got {kind or 'no suffix'!r}")
    if not path.is_file():
        raise VectroError(f"{path} does not exist")
    texts, ids, groups = [], [], []
    with _open(path) as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            text, row_id, group = line, None, None
            if kind == ".jsonl":
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise VectroError(f"{path}, line {number}: not valid JSON ({exc})") from exc
                if isinstance(row, dict):
                    if not isinstance(row.get(field), str):
                        raise VectroError(f"{path}, line {number}: no string field {field!r} "
                                          f"(fields: {', '.join(map(str, row)) or 'none'})")
                    text, row_id, group = row[field], row.get("id"), row.get("group")
                elif isinstance(row, str):
                    text = row
                else:
                    raise VectroError(f"{path}, line {number}: expected an object or a string, got {type(row).__name__}")
            texts.append(text)
            ids.append(str(len(ids) if row_id is None else row_id))
            groups.append(None if group is None else str(group))
    if len(set(ids)) != len(ids):
        raise VectroError(f"{path}: ids are not unique")
    return Texts(texts, ids, groups)


def read_qrels(path) -> list[tuple[str, str]]:
    """(query id, passage id) pairs judged relevant, from a TSV: query id, passage id[, relevance].

    A first line whose relevance is not a number is a header; relevance <= 0 is not relevant.
    """
    path = Path(path)
    if not path.is_file():
        raise VectroError(f"{path} does not exist")
    pairs = []
    with open(path, encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row:
                continue
            if len(row) < 2:
                raise VectroError(f"{path}, line {number}: expected query id, passage id[, relevance] (tab-separated)")
            try:
                relevance = float(row[2]) if len(row) > 2 else 1.0
            except ValueError:
                if number == 1:
                    continue
                raise VectroError(f"{path}, line {number}: relevance {row[2]!r} is not a number") from None
            if relevance > 0:
                pairs.append((row[0].strip(), row[1].strip()))
    return pairs
