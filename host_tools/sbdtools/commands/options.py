"""Option types shared by several commands."""

from __future__ import annotations

import click


def unique_id(_ctx: click.Context, _param: click.Parameter, value: str | None) -> bytes | None:
    """click callback for --uid: a board's unique id, 4 to 16 bytes in hex."""
    if value is None:
        return None
    try:
        uid = bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter("the board's unique id in hex (ESP32: its MAC, `esptool read_mac`)") from None
    if not 4 <= len(uid) <= 16:
        raise click.BadParameter("a unique id is 4 to 16 bytes")
    return uid
