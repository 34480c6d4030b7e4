"""The host side of the host-to-ROM protocol (see device/vb_proto.py).

The protocol itself -- the environment variables the host sets, the reset
kinds and modes, the boot markers and the rtc report keys -- is declared once,
in ``device/vb_proto.py``, which the ROM imports on MicroPython; this module
gives the host the same constants (and the markers as bytes, as they appear
on the pty)."""

from __future__ import annotations

from .device import vb_proto as _p

ENV_IMAGE: str = _p.ENV_IMAGE
ENV_FLASH_SIZE: str = _p.ENV_FLASH_SIZE
ENV_FAMILY: str = _p.ENV_FAMILY
ENV_CHIP: str = _p.ENV_CHIP
ENV_BOARD: str = _p.ENV_BOARD
ENV_FS: str = _p.ENV_FS
ENV_PT: str = _p.ENV_PT
ENV_UID: str = _p.ENV_UID
ENV_CAUSE: str = _p.ENV_CAUSE
ENV_FREQ: str = _p.ENV_FREQ
ENV_RESET: str = _p.ENV_RESET
ENV_RUNNING: str = _p.ENV_RUNNING
ENV_MODE: str = _p.ENV_MODE
ENV_CUT_AT: str = _p.ENV_CUT_AT
ENV_RTC: str = _p.ENV_RTC
ENV_WDT: str = _p.ENV_WDT
ENV_EXEC: str = _p.ENV_EXEC
ENV_PREFIX: str = _p.ENV_PREFIX

RESET_HARD: str = _p.RESET_HARD
RESET_SOFT: str = _p.RESET_SOFT

MODE_FRIENDLY: str = _p.MODE_FRIENDLY
MODE_RAW: str = _p.MODE_RAW
MODE_RUN: str = _p.MODE_RUN
MODE_EXEC: str = _p.MODE_EXEC
MODES: tuple[str, ...] = tuple(_p.MODES)

# The markers as the pty carries them: print() ends each with a newline.
INIT_MARK: bytes = _p.INIT_MARK.encode() + b"\n"
READY_MARK: bytes = _p.READY_MARK.encode() + b"\n"

RTC_RUNNING: str = _p.RTC_RUNNING
RTC_FORMATTED: str = _p.RTC_FORMATTED
RTC_BOOT_OPS: str = _p.RTC_BOOT_OPS
RTC_END_OPS: str = _p.RTC_END_OPS
RTC_UNCAUGHT: str = _p.RTC_UNCAUGHT
RTC_HALTED: str = _p.RTC_HALTED
