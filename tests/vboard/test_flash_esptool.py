"""`sbd flash` driving the real esptool (esptool.cmds) end to end against a
fake ESP32 ROM bootloader on a pty.

The fake speaks the serial protocol esptool uses (learnt from esptool's
loader: SLIP framing; a request is direction 0, opcode, length, checksum and
data; a response is direction 1, opcode, length, a value and data ending in
status bytes, four from the ESP32 ROM and two from the flasher stub).  It
answers what esptool sends for `detect_chip`, `run_stub`, `attach_flash`,
`write_flash`, `verify_flash` and `reset_chip`:

* SYNC (answered eight times, as the ROM does), GET_SECURITY_INFO refused as
  the ESP32 ROM refuses it (esptool then reads the chip magic with READ_REG);
* READ_REG / WRITE_REG on a register file: the chip-detect magic, eFuses
  (all zero), the UART divider, and the SPI controller's user-command
  registers, so that esptool's RDID command (0x9F) reads a flash id;
* MEM_BEGIN / MEM_DATA / MEM_END: the stub is "loaded" (its blocks checked
  against their checksums) and "runs": the fake sends OHAI and answers as
  the stub from then on;
* SPI_SET_PARAMS, SPI_ATTACH; FLASH_BEGIN / FLASH_DATA / FLASH_END and the
  compressed FLASH_DEFL_BEGIN / DATA / END (zlib, as esptool sends by
  default) into a 4 MiB NOR flash model (erase to 0xFF, program clears bits);
* SPI_FLASH_MD5 over the flash model (16 raw bytes from the stub, 32 hex
  characters from the ROM), which is what esptool's verify compares;
* anything else is refused with the ROM's "invalid message" status.

Not emulated: baud-rate changes, the reset lines (a pty has no DTR/RTS;
esptool notes it and goes on), flash encryption, secure download mode, the
stub's erase/read commands (`--erase` is not exercised here).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pty
import select
import struct
import threading
import tty
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from tests.harness.firmware_synth import esp_firmware

from sbdtools import boards
from sbdtools.flash import targets
from sbdtools.flash.targets import FlashError

SYNC, READ_REG, WRITE_REG = 0x08, 0x0A, 0x09
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0F
DEFL_BEGIN, DEFL_DATA, DEFL_END = 0x10, 0x11, 0x12
SPI_FLASH_MD5, GET_SECURITY_INFO = 0x13, 0x14

ESP32_MAGIC = 0x00F01D83
CHIP_DETECT_MAGIC_REG = 0x40001000
SPI_BASE = 0x3FF42000  # ESP32 SPI1: CMD at +0, USR2 at +0x24, W0 at +0x80
UART_CLKDIV_REG = 0x3FF40014
FLASH_ID = 0x1640EF  # Winbond, 4 MiB (size code 0x16)
SECTOR = 4096


class FakeEsp32Rom:
    """An ESP32 in download mode behind a pty; `port` is what esptool opens."""

    def __init__(
        self, *, flash_size: int = 4 * 1024 * 1024, corrupt_at: int | None = None, unplug_after: int | None = None
    ) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.flash = bytearray(b"\xff") * flash_size
        self.corrupt_at = corrupt_at  # a flash address whose byte is programmed wrong (a bad cell)
        self.unplug_after = unplug_after  # flash data blocks taken before the USB cable is pulled
        self.unplugged = False
        self.regs: dict[int, int] = {CHIP_DETECT_MAGIC_REG: ESP32_MAGIC, UART_CLKDIV_REG: 347}
        self.stub = False
        self.ops: list[int] = []
        self.written: list[tuple[int, int]] = []  # (address, length) of each write session
        self.errors: list[str] = []
        self._write: dict[str, int] = {}
        self._inflate: zlib._Decompress | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    # -- running -------------------------------------------------------------
    def __enter__(self) -> FakeEsp32Rom:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        if not self.unplugged:
            os.close(self.master)
        os.close(self.slave)

    def _serve(self) -> None:
        frame: bytearray | None = None
        escaped = False
        while not self._stop.is_set() and not self.unplugged:
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                continue
            for b in chunk:
                if b == 0xC0:
                    if frame:
                        self._request(bytes(frame))
                    frame = bytearray()
                elif frame is None:
                    continue  # noise outside a frame
                elif escaped:
                    frame.append({0xDC: 0xC0, 0xDD: 0xDB}.get(b, b))
                    escaped = False
                elif b == 0xDB:
                    escaped = True
                else:
                    frame.append(b)

    def _send(self, packet: bytes) -> None:
        os.write(self.master, b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0")

    def _reply(self, op: int, value: int = 0, data: bytes = b"", error: int = 0) -> None:
        status = bytes([1 if error else 0, error]) + (b"" if self.stub else b"\x00\x00")
        body = data + status
        self._send(struct.pack("<BBHI", 1, op, len(body), value) + body)

    # -- the protocol ----------------------------------------------------------
    def _request(self, pkt: bytes) -> None:
        if len(pkt) < 8 or pkt[0] != 0:
            return
        _, op, size, chk = struct.unpack("<BBHI", pkt[:8])
        data = pkt[8 : 8 + size]
        self.ops.append(op)
        try:
            handler = self._HANDLERS.get(op)
            if handler is None:
                self._reply(op, error=0x05)  # the ROM's "invalid message"
                return
            handler(self, op, data, chk)
        except Exception as e:  # a bug in the fake must show in the test, not hang esptool
            self.errors.append(f"{op:#x}: {e!r}")
            self._reply(op, error=0x06)

    def _sync(self, op: int, data: bytes, chk: int) -> None:
        if data != b"\x07\x07\x12\x20" + b"\x55" * 32:
            return
        for _ in range(8):  # the ROM answers a SYNC eight times; esptool reads them all
            self._reply(op, value=0 if self.stub else 0x20120707)

    def _read_reg(self, op: int, data: bytes, chk: int) -> None:
        (addr,) = struct.unpack("<I", data[:4])
        self._reply(op, value=self.regs.get(addr, 0))

    def _write_reg(self, op: int, data: bytes, chk: int) -> None:
        addr, value, mask, _delay = struct.unpack("<IIII", data[:16])
        self.regs[addr] = (self.regs.get(addr, 0) & ~mask) | (value & mask)
        if addr == SPI_BASE and value & (1 << 18):  # SPI_CMD_USR: run the user command
            command = self.regs.get(SPI_BASE + 0x24, 0) & 0xFF
            self.regs[SPI_BASE + 0x80] = FLASH_ID if command == 0x9F else 0
            self.regs[SPI_BASE] = 0  # done
        self._reply(op)

    def _checked(self, op: int, data: bytes, chk: int) -> bytes | None:
        size, _seq, _, _ = struct.unpack("<IIII", data[:16])
        block = data[16 : 16 + size]
        want = 0xEF
        for b in block:
            want ^= b
        if len(block) != size or want != chk:
            self._reply(op, error=0x07)  # bad checksum: esptool retries, then gives up
            return None
        return block

    def _mem(self, op: int, data: bytes, chk: int) -> None:
        if op == MEM_DATA and self._checked(op, data, chk) is None:
            return
        self._reply(op)
        if op == MEM_END:
            flag, entry = struct.unpack("<II", data[:8])
            if not flag and entry:  # "run the code just loaded": the stub starts and says hello
                self.stub = True
                self._send(b"OHAI")

    def _attach(self, op: int, data: bytes, chk: int) -> None:
        self._reply(op)

    def _begin(self, op: int, data: bytes, chk: int) -> None:
        size, _blocks, block_size, offset = struct.unpack("<IIII", data[:16])
        if offset + size > len(self.flash):
            self._reply(op, error=0x08)
            return
        end = -(-(offset + size) // SECTOR) * SECTOR
        self.flash[offset - offset % SECTOR : end] = b"\xff" * (end - (offset - offset % SECTOR))
        self._write = {"at": offset, "start": offset, "block": block_size}
        self._inflate = zlib.decompressobj() if op == DEFL_BEGIN else None
        self.written.append((offset, 0))
        self._reply(op)

    def _program(self, raw: bytes) -> None:
        at = self._write["at"]
        for i, b in enumerate(raw):
            if at + i == self.corrupt_at:
                b ^= 0x10
            self.flash[at + i] &= b  # NOR: programming only clears bits
        self._write["at"] = at + len(raw)
        start, _ = self.written[-1]
        self.written[-1] = (start, self._write["at"] - start)

    def _data(self, op: int, data: bytes, chk: int) -> None:
        block = self._checked(op, data, chk)
        if block is None or not self._write:
            if block is not None:
                self._reply(op, error=0x09)
            return
        if op == DEFL_DATA:
            assert self._inflate is not None
            self._program(self._inflate.decompress(block))
        else:
            self._program(block)
        if self.unplug_after is not None and sum(o in (FLASH_DATA, DEFL_DATA) for o in self.ops) >= self.unplug_after:
            self.unplugged = True  # the pty's other end goes away: esptool's next read fails
            os.close(self.master)
            return
        self._reply(op)

    def _end(self, op: int, data: bytes, chk: int) -> None:
        self._reply(op)

    def _md5(self, op: int, data: bytes, chk: int) -> None:
        addr, size, _, _ = struct.unpack("<IIII", data[:16])
        digest = hashlib.md5(self.flash[addr : addr + size]).digest()
        self._reply(op, data=digest if self.stub else digest.hex().encode())

    _HANDLERS: ClassVar[dict[int, Callable[[FakeEsp32Rom, int, bytes, int], None]]] = {
        SYNC: _sync,
        READ_REG: _read_reg,
        WRITE_REG: _write_reg,
        MEM_BEGIN: _mem,
        MEM_DATA: _mem,
        MEM_END: _mem,
        SPI_SET_PARAMS: _attach,
        SPI_ATTACH: _attach,
        FLASH_BEGIN: _begin,
        DEFL_BEGIN: _begin,
        FLASH_DATA: _data,
        DEFL_DATA: _data,
        FLASH_END: _end,
        DEFL_END: _end,
        SPI_FLASH_MD5: _md5,
    }


@contextlib.contextmanager
def fake_esp32(**kw: int | None) -> Iterator[FakeEsp32Rom]:
    with FakeEsp32Rom(**kw) as rom:  # type: ignore[arg-type]
        yield rom


def test_sbd_flash_writes_through_real_esptool_at_the_firmware_offset_and_verifies() -> None:
    cfg = boards.load("esp32")
    fw = esp_firmware(cfg)
    with fake_esp32() as rom:
        chip = targets.flash_esp32(rom.port, fw, cfg)
    assert chip == "ESP32"
    assert not rom.errors, rom.errors
    assert rom.stub, "esptool uploaded and started its flasher stub"
    assert bytes(rom.flash[cfg.firmware_offset : cfg.firmware_offset + len(fw)]) == fw
    assert rom.flash[: cfg.firmware_offset] == b"\xff" * cfg.firmware_offset, "nothing before the offset"
    assert rom.written == [(cfg.firmware_offset, len(fw))]
    assert DEFL_BEGIN in rom.ops and SPI_FLASH_MD5 in rom.ops, "compressed write, then esptool's MD5 verify"
    assert rom.ops.index(GET_SECURITY_INFO) < rom.ops.index(READ_REG), "chip detection as on an ESP32 ROM"


def test_a_corrupted_write_is_caught_by_verify() -> None:
    cfg = boards.load("esp32")
    fw = esp_firmware(cfg)
    bad_cell = cfg.firmware_offset + len(fw) // 2
    with fake_esp32(corrupt_at=bad_cell) as rom:
        with pytest.raises(FlashError, match=r"esptool stopped: .*partly written image"):
            targets.flash_esp32(rom.port, fw, cfg)
    assert not rom.errors, rom.errors
    assert rom.ops[-1] == SPI_FLASH_MD5, "esptool stopped at the verify, after the write"
    assert rom.flash[bad_cell] != fw[len(fw) // 2]


def test_a_merged_device_image_goes_to_address_zero() -> None:
    cfg = boards.load("esp32")
    image = bytes(range(256)) * 64 + esp_firmware(cfg)
    with fake_esp32() as rom:
        targets.flash_esp32(rom.port, image, cfg, address=0)
    assert not rom.errors, rom.errors
    assert bytes(rom.flash[: len(image)]) == image and rom.written == [(0, len(image))]


def test_a_board_unplugged_midway_is_a_clear_error() -> None:
    cfg = boards.load("esp32")
    noise = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(2048))
    fw = esp_firmware(cfg) + noise  # 64 KiB that does not compress: several of the stub's 16 KiB blocks
    with fake_esp32(unplug_after=1) as rom:
        with pytest.raises(FlashError, match=r"esptool stopped: .*partly written image: hold BOOT, press RESET"):
            targets.flash_esp32(rom.port, fw, cfg)
    assert rom.unplugged and not rom.errors, rom.errors
    assert 0 < rom.written[0][1] < len(fw), "the cable went mid-write"
    assert SPI_FLASH_MD5 not in rom.ops


def test_another_chip_on_the_port_gets_nothing_written() -> None:
    cfg = boards.load("esp32s3")
    with fake_esp32() as rom:  # an ESP32 answers, the board config says ESP32-S3
        with pytest.raises(FlashError, match=r"found an ESP32, but board esp32s3 is an esp32s3"):
            targets.flash_esp32(rom.port, esp_firmware(cfg), cfg)
    assert FLASH_BEGIN not in rom.ops and DEFL_BEGIN not in rom.ops and MEM_BEGIN not in rom.ops


def _sbd(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from sbdtools import cli

    with pytest.raises(SystemExit) as e:
        cli.main(list(args))
    got = capsys.readouterr()
    return int(e.value.code or 0), got.out, got.err


def test_sbd_flash_command_on_two_fake_boards_one_with_a_bad_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = boards.load("esp32")
    fw = esp_firmware(cfg)
    (tmp_path / "fw.bin").write_bytes(fw)
    allow = tmp_path / "allow.txt"
    assert _sbd(capsys, "flash", "allow", str(tmp_path / "fw.bin"), "--allow-list", str(allow))[0] == 0
    with fake_esp32() as good, fake_esp32(corrupt_at=cfg.firmware_offset + 7) as bad:
        code, out, err = _sbd(
            capsys,
            "flash", "--board", "esp32", "--firmware", str(tmp_path / "fw.bin"), "--allow-list", str(allow),
            "--port", good.port, "--port", bad.port,
        )  # fmt: skip
    assert code == 1, (out, err)
    assert bytes(good.flash[cfg.firmware_offset : cfg.firmware_offset + len(fw)]) == fw
    assert "MD5 of file does not match data in flash" in out + err and bad.port in out + err
    assert not good.errors and not bad.errors
