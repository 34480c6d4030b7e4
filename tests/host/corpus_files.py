"""The binary corpus files the device tests replay, one codec for all of them.

A file is a run of records: input length (u16 big-endian), outcome length
(u8 or u16 big-endian, per corpus), the outcome (ASCII), the input bytes.
Binary, so a board reads each input with one allocation of its own size.
"""

from __future__ import annotations

import struct
from pathlib import Path


def write(folder: Path, files: dict[str, list[tuple[bytes, str]]], header: str, *, prune: bool = False) -> None:
    """Write each name's (input, outcome) records to folder/<name>.bin.

    `header` is the struct format of the two lengths (">HB" or ">HH"); with
    `prune`, .bin files for names not in `files` are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    if prune:
        for old in folder.glob("*.bin"):
            if old.stem not in files:
                old.unlink()
    for name, items in sorted(files.items()):
        with open(folder / (name + ".bin"), "wb") as f:
            for data, outcome in items:
                o = outcome.encode("ascii")
                f.write(struct.pack(header, len(data), len(o)) + o + data)


def read(folder: Path, header: str) -> dict[str, list[tuple[bytes, str]]]:
    """Every folder/*.bin as {name: [(input, outcome), ...]}."""
    size = struct.calcsize(header)
    out: dict[str, list[tuple[bytes, str]]] = {}
    for p in sorted(folder.glob("*.bin")):
        raw = p.read_bytes()
        items = []
        i = 0
        while i < len(raw):
            n, m = struct.unpack_from(header, raw, i)
            i += size
            outcome = raw[i : i + m].decode("ascii")
            i += m
            items.append((raw[i : i + n], outcome))
            i += n
        out[p.stem] = items
    return out
