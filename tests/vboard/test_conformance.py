"""The virtual board against the real ports, one behaviour a case.

Each case names the source it follows, so the next divergence is caught
where it starts.  Sources read:
  MP   = micropython/micropython at 1c3c201149f37fe8d81246191b3127bb198d6306 (2026-08-19)
  IDF  = espressif/esp-idf v5.5 (8c750b088c7cd857d079c0eeb495da199b359461)
App images are built with esptool's image classes (esptool.bin_image), as
`esptool elf2image` builds them.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import app_image, run_ok, write_app_script

from sbdtools.vboard import runner, store

OTA0, OTA1 = 0x10000, 0x190000  # board_configs/esp32.json
ESP_ERR_OTA_VALIDATE_FAILED = -0x1503  # errno of the OSError (MP ports/esp32/mphalport.c:66-105: -code)


def _otadata(vb: store.VBoard) -> list[tuple[int, int]]:
    """(ota_seq, ota_state) of both otadata sectors, read on the host."""
    od = vb.board.partition("otadata")
    data = vb.image.read_bytes()
    return [struct.unpack_from("<I20sII", data, od.offset + i * 4096)[0:3:2] for i in range(2)]


def _poke(vb: store.VBoard, addr: int, data: bytes) -> None:
    """Change the flash image on the host (a flasher, a bad download, a bit flip)."""
    with open(vb.image, "r+b") as f:
        f.seek(addr)
        f.write(data)


def _try(code: str) -> str:
    """Board code: run `code`, print the exception it raises (type and args) or OK."""
    return f"try:\n    {code}\n    print('OK')\nexcept Exception as e:\n    print(type(e).__name__, e.args)\n"


# -- 1. set_boot verifies the image as ESP-IDF does ------------------------------
# IDF components/app_update/esp_ota_ops.c:599-607 (esp_ota_set_boot_partition ->
# image_validate -> esp_image_verify); components/bootloader_support/src/esp_image_format.c:
# 341-368 header (magic, chip id, revision, <= 16 segments), 785-795 segment length, 978-1001
# checksum, 929-975 appended hash fits in the partition, 1088-1107 SHA-256 compared.


def _corrupt_variants() -> dict[str, bytes]:
    good = app_image("esp32", "v2")
    no_hash = app_image("esp32", "v2", hash_appended=False)
    flipped = bytearray(good)
    flipped[24 + 8 + 3] ^= 0x01  # a byte of the first segment's data
    bad_digest = bytearray(good)
    bad_digest[-1] ^= 0x01  # the appended SHA-256
    bad_sum = bytearray(no_hash)
    bad_sum[-1] ^= 0x01  # the checksum byte (no hash appended)
    flipped_no_hash = bytearray(no_hash)
    flipped_no_hash[24 + 8 + 3] ^= 0x01
    return {
        "truncated in a segment": good[:100],
        "truncated before the hash": good[:-32],
        "data byte flipped (hash)": bytes(flipped),
        "digest corrupt": bytes(bad_digest),
        "checksum corrupt": bytes(bad_sum),
        "data byte flipped (checksum only)": bytes(flipped_no_hash),
        "image for another chip (esp32s3)": app_image("esp32s3", "v2"),
        "no magic": b"\x00" + good[1:],
        "segment longer than the partition": good[:28] + struct.pack("<I", 0x200000) + good[32:],
        "17 segments": good[:1] + bytes([17]) + good[2:],
    }


def test_set_boot_accepts_valid_esptool_images(make_board) -> None:
    vb = make_board("esp32")
    res = run_ok(vb, write_app_script(app_image("esp32", "v2")))
    assert "NEXT ota_1" in res.output
    trial = run_ok(
        vb,
        "import esp32\nesp32.Partition.mark_app_valid_cancel_rollback()\n"
        + write_app_script(app_image("esp32", "v3", hash_appended=False)),
    )
    assert trial.running == "ota_1" and "NEXT ota_0" in trial.output
    assert run_ok(vb, "pass").running == "ota_0"


@pytest.mark.parametrize("case", sorted(_corrupt_variants()))
def test_set_boot_refuses_what_esp_image_verify_refuses(make_board, case: str) -> None:
    vb = make_board("esp32")
    img = _corrupt_variants()[case]
    padded = img + b"\xff" * (-len(img) % 4096)
    res = run_ok(
        vb,
        "import esp32\np = esp32.Partition('ota_1')\n"
        f"p.writeblocks(0, bytes.fromhex({padded.hex()!r}))\n" + _try("p.set_boot()"),
    )
    assert f"OSError ({ESP_ERR_OTA_VALIDATE_FAILED}, 'ESP_ERR_OTA_VALIDATE_FAILED')" in res.output, case
    assert _otadata(vb)[1][0] == 0xFFFFFFFF, "otadata untouched"
    assert run_ok(vb, "pass").running == "ota_0"


# -- 2. writing or erasing the running app aborts (a reboot) ------------------------
# IDF components/spi_flash/esp_flash_api.c:44-62 (CHECK_WRITE_ADDRESS -> abort() with the
# default CONFIG_SPI_FLASH_DANGEROUS_WRITE_ABORTS, spi_flash/Kconfig:259-262),
# components/esp_partition/partition_target.c:222-235 (the running app is protected).


@pytest.mark.parametrize("op", ["p.writeblocks(0, bytearray(4096))", "p.ioctl(6, 1)", "p.writeblocks(1, b'x', 0)"])
def test_writing_the_running_app_aborts_and_reboots(make_board, op: str) -> None:
    vb = make_board("esp32")
    run_ok(vb, "pass")
    before = vb.image.read_bytes()[OTA0 : OTA0 + 0x2000]
    res = runner.boot(vb, script=f"import esp32\np = esp32.Partition(esp32.Partition.RUNNING)\n{op}\nprint('SURVIVED')")
    assert res.ended == runner.HARD_RESET_REQ, res.output
    assert "abort()" in res.output and "SURVIVED" not in res.output
    assert vb.image.read_bytes()[OTA0 : OTA0 + 0x2000] == before, "nothing was written"
    # the panic reboot reports HARD_RESET (MP ports/esp32/modmachine.c:250-253, ESP_RST_PANIC)
    cause = runner.MACHINE_RESET_CAUSE["esp32"]
    assert "CAUSE 2" in run_ok(vb, "import machine; print('CAUSE', machine.reset_cause())", cause=cause).output


# -- 3. a plain writeblocks must cover whole 4 KiB sectors ---------------------------
# MP ports/esp32/esp32_partition.c:216-220 (erase_range(offset, len) before the write);
# IDF components/esp_partition/partition_target.c:130-141 (size % 4096 -> ESP_ERR_INVALID_SIZE).


def test_unaligned_plain_write_raises_before_erasing(make_board) -> None:
    vb = make_board("esp32")
    run_ok(vb, "pass")
    before = vb.image.read_bytes()[OTA1 : OTA1 + 8192]
    res = run_ok(
        vb,
        "import esp32, flashbdev\np = esp32.Partition('ota_1')\n"
        + _try("p.writeblocks(0, bytearray(100))")
        + _try("p.writeblocks(0, bytearray(5000))")
        + _try("p.readblocks(384, bytearray(1))")
        + _try("p.ioctl(6, 384)"),
    )
    assert res.output.count("OSError (-260, 'ESP_ERR_INVALID_SIZE')") == 4, res.output
    assert vb.image.read_bytes()[OTA1 : OTA1 + 8192] == before


# -- 4. a corrupt filesystem: ESP32 halts with the data intact, rp2 formats ------------
# MP ports/esp32/modules/_boot.py:5-11 and inisetup.py:5-15,18-34 (format only when block 0 is
# erased, else loop printing a warning); ports/esp32/main.c:154 runs _boot.py at every boot;
# MP ports/rp2/modules/_boot.py:7-13 (any failure to mount formats).


def _corrupt_fs(vb: store.VBoard, *, erase_block0: bool) -> None:
    fs = vb.board.filesystem
    _poke(vb, fs.offset, (b"\xff" if erase_block0 else b"\x55") * 4096 + b"\x55" * 4096)


def test_esp32_halts_on_a_corrupt_filesystem_and_keeps_the_data(make_board) -> None:
    vb = make_board("esp32")
    run_ok(vb, "with open('creds.bin', 'wb') as f:\n f.write(b'secret-store')")
    _corrupt_fs(vb, erase_block0=False)
    fs = vb.board.filesystem
    before = vb.image.read_bytes()[fs.offset : fs.offset + fs.size]
    res = runner.boot(vb, script="print('APP-RAN')", timeout=8)
    assert res.ended == runner.TIMEOUT, "the board stays in the halt loop"
    assert res.halted and not res.formatted
    assert "filesystem appears to be corrupted" in res.output and "APP-RAN" not in res.output
    assert vb.image.read_bytes()[fs.offset : fs.offset + fs.size] == before, "never reformatted"


def test_esp32_formats_when_block_0_is_erased(make_board) -> None:
    vb = make_board("esp32")
    run_ok(vb, "pass")
    _corrupt_fs(vb, erase_block0=True)
    res = run_ok(vb, "import os; print(os.listdir('/'))")
    assert res.formatted and "Performing initial setup" in res.output and "['boot.py']" in res.output


def test_rp2_formats_a_corrupt_filesystem_as_its_boot_py_does(make_board) -> None:
    vb = make_board("pico_w")
    run_ok(vb, "with open('f', 'w') as f:\n f.write('x')")
    _corrupt_fs(vb, erase_block0=False)
    res = run_ok(vb, "import os; print(os.listdir('/'))")
    assert res.formatted and "[]" in res.output


# -- 5. modules and facts board code relies on ---------------------------------------
# MP ports/esp32/modules/flashbdev.py:1-7, inisetup.py; ports/esp32/esp32_nvs.c (NVS API);
# ports/esp32/mpconfigport.h:81 (MICROPY_PY_IO_BUFFEREDWRITER); extmod/modos.c:97-119 (uname:
# sysname/nodename = sys.platform, machine = board " with " MCU); ports/esp32/boards/ESP32_GENERIC/
# mpconfigvariant_OTA.cmake:6; ports/rp2/boards/RPI_PICO_W|RPI_PICO2_W/mpconfigboard.h:2;
# ports/rp2/mpconfigport.h:39-41; ports/rp2/rp2_flash.c:201-241 (rp2.Flash(start=, len=)).


def test_esp32_modules(make_board) -> None:
    vb = make_board("esp32")
    res = run_ok(
        vb,
        """
import sys, os, io, esp32, flashbdev, inisetup
print('PLATFORM', sys.platform)
u = os.uname()
print('UNAME', u.sysname, u.nodename, u.machine, u[0])
print('BDEV', flashbdev.bdev.info()[4], flashbdev.bdev.ioctl(5, 0), callable(inisetup.setup))
class Sink:
    def __init__(self): self.got = []
    def write(self, b): self.got.append(bytes(b)); return len(b)
s = Sink(); w = io.BufferedWriter(s, 8)
w.write(b'0123'); w.write(b'456789ab'); w.write(b'c')
print('BW', s.got); w.flush(); print('BW', s.got)
n = esp32.NVS('sbd')
n.set_i32('boots', 41); n.set_blob('key', b'\\x01\\x02\\x03'); n.commit()
""",
    )
    assert "PLATFORM esp32" in res.output
    assert "UNAME esp32 esp32 Generic ESP32 module with OTA with ESP32 esp32" in res.output
    assert "BDEV vfs 4096 True" in res.output
    unix_only = run_ok(
        vb,
        "import sys, os\nprint('UNIX', sys.argv, [k for k in ('getenv', 'system', 'VfsPosix') "
        "if hasattr(os, k)], hasattr(sys, 'executable'))",
    )
    assert "UNIX [] [] False" in unix_only.output, "what only the unix port has is not there"
    assert "BW [b'01234567']" in res.output and "BW [b'01234567', b'89abc']" in res.output
    res = run_ok(
        vb,
        "import esp32\nn = esp32.NVS('sbd')\nb = bytearray(8)\n"
        "print('NVS', n.get_i32('boots'), n.get_blob('key', b), b[:3])\n"
        + _try("n.get_i32('nothere')")
        + _try("n.get_i32('key')")
        + _try("n.get_blob('key', bytearray(2))")
        + _try("n.set_i32('k' * 16, 1)")
        + _try("esp32.NVS('other').get_i32('boots')"),
    )
    assert "NVS 41 3 bytearray(b'\\x01\\x02\\x03')" in res.output, res.output
    assert res.output.count("OSError (-4354, 'ESP_ERR_NVS_NOT_FOUND')") == 3
    assert "OSError (-4364, 'ESP_ERR_NVS_INVALID_LENGTH')" in res.output
    assert "OSError (-4361, 'ESP_ERR_NVS_KEY_TOO_LONG')" in res.output


@pytest.mark.parametrize(
    ("board", "machine_name", "blocks"),
    [("pico_w", "Raspberry Pi Pico W with RP2040", 212), ("pico2_w", "Raspberry Pi Pico 2 W with RP2350", 640)],
)
def test_rp2_modules(make_board, board: str, machine_name: str, blocks: int) -> None:
    vb = make_board(board)
    res = run_ok(
        vb,
        "import sys, os, rp2\nprint('PLATFORM', sys.platform, os.uname().machine)\n"
        "print('BLOCKS', rp2.Flash().ioctl(4, 0), rp2.Flash(start=4096, len=8192).ioctl(4, 0))\n"
        + _try("rp2.Flash(start=100)")
        + _try("import esp32")
        + _try("import flashbdev"),
    )
    assert f"PLATFORM rp2 {machine_name}" in res.output
    assert f"BLOCKS {blocks} 2" in res.output  # 9. Pico 2 W: 2.5 MiB (RPI_PICO2_W/mpconfigboard.cmake:19-21)
    assert "ValueError ()" in res.output
    assert res.output.count("ImportError") == 2


# -- 6. reset causes -------------------------------------------------------------------
# MP ports/esp32/modmachine.c:79-83 (1..5), 233-259 (is_soft_reset -> SOFT_RESET, ESP_RST_SW ->
# HARD_RESET), 299-306; ports/rp2/modmachine.c:57-66 (only PWRON_RESET, WDT_RESET), 74-89.


def test_reset_causes_per_port(make_board) -> None:
    esp = make_board("esp32", name="e")
    pico = make_board("pico_w", name="p")
    assert runner.MACHINE_RESET_CAUSE == {"esp32": 2, "rp2": 3}
    probe = "import machine; print('CAUSE', machine.reset_cause())"
    assert "CAUSE 5" in run_ok(esp, probe, reset="soft", running="ota_0").output
    assert "CAUSE 3" in run_ok(pico, probe, reset="soft", cause=runner.WDT_RESET).output, "rp2 keeps the cause"
    res = run_ok(
        pico,
        "import machine\nprint('HAS', [k for k in ('PWRON_RESET', 'HARD_RESET', 'WDT_RESET', "
        "'DEEPSLEEP_RESET', 'SOFT_RESET') if hasattr(machine, k)])",
    )
    assert "HAS ['PWRON_RESET', 'WDT_RESET']" in res.output
    res = run_ok(
        esp,
        "import machine\nprint('VALS', machine.PWRON_RESET, machine.HARD_RESET, machine.WDT_RESET, "
        "machine.DEEPSLEEP_RESET, machine.SOFT_RESET)",
    )
    assert "VALS 1 2 3 4 5" in res.output


# -- 7. the bootloader when the chosen slot does not load ------------------------------
# IDF components/bootloader_support/src/bootloader_utility.c:396-403 (PENDING -> ABORTED at the
# next boot), 446-450 (NEW -> PENDING before loading), 593-619 (fall back by slot index:
# backwards, then forwards), 407-424 + 490-505 (blank otadata: boot ota_0, write {seq, VALID}).


def test_blank_otadata_gets_seq_1_valid_at_the_first_boot(make_board) -> None:
    vb = make_board("esp32")
    assert _otadata(vb) == [(0xFFFFFFFF, 0xFFFFFFFF)] * 2
    assert run_ok(vb, "pass").running == "ota_0"
    assert _otadata(vb)[0] == (1, 2)


def test_blank_otadata_and_a_broken_ota_0_boots_ota_1(make_board) -> None:
    vb = make_board("esp32")
    _poke(vb, OTA1, app_image("esp32", "v2"))
    _poke(vb, OTA0, b"\x00")
    assert run_ok(vb, "pass").running == "ota_1"
    assert _otadata(vb)[0] == (2, 2), "set_actual_ota_seq for slot 1"


def test_a_slot_that_fails_to_load_is_pending_then_aborted_and_never_trial_booted_again(make_board) -> None:
    vb = make_board("esp32")
    run_ok(vb, write_app_script(app_image("esp32", "v2")))
    assert _otadata(vb)[1] == (2, 0), "NEW"
    _poke(vb, OTA1 + 40, b"\x00\x00\x00\x00")  # the image goes bad before the reboot
    assert run_ok(vb, "pass").running == "ota_0", "fell back to slot 0"
    assert _otadata(vb)[1] == (2, 1), "PENDING was written before the load failed"
    assert run_ok(vb, "pass").running == "ota_0"
    assert _otadata(vb)[1] == (2, 4), "ABORTED at the next boot"
    # esp_ota_get_boot_partition (IDF esp_ota_ops.c:670-697) skips the ABORTED entry too
    boot = run_ok(vb, "import esp32\nprint('BOOT', esp32.Partition(esp32.Partition.BOOT).info()[4])")
    assert "BOOT ota_0" in boot.output
    # Re-flashing a good image without set_boot must not start a trial boot.
    _poke(vb, OTA1, app_image("esp32", "v2"))
    assert run_ok(vb, "pass").running == "ota_0"


# -- 8. machine.WDT limits ------------------------------------------------------------------
# MP ports/esp32/machine_wdt.c:42-49; ports/rp2/machine_wdt.c:32-58; extmod/machine_wdt.c:43-55.


@pytest.mark.parametrize(
    ("board", "ok", "bad"),
    [
        (
            "esp32",
            ["machine.WDT(timeout=1)", "machine.WDT(0, 100000)"],
            ["machine.WDT(id=1)", "machine.WDT(timeout=0)", "machine.WDT(timeout=-5)"],
        ),
        (
            "pico_w",
            ["machine.WDT(timeout=8388)"],
            ["machine.WDT(timeout=8389)", "machine.WDT(id=1)", "machine.WDT(timeout=-1)"],
        ),
        ("pico2_w", ["machine.WDT(timeout=16777)"], ["machine.WDT(timeout=16778)"]),
    ],
)
def test_wdt_limits(make_board, board: str, ok: list[str], bad: list[str]) -> None:
    vb = make_board(board)
    res = run_ok(vb, "import machine\n" + "".join(_try(c) for c in bad + ok))
    lines = [ln for ln in res.output.splitlines() if ln == "OK" or ln.startswith("ValueError")]
    assert len(lines) == len(bad) + len(ok), res.output
    assert all(ln.startswith("ValueError") for ln in lines[: len(bad)]), res.output
    assert lines[len(bad) :] == ["OK"] * len(ok), res.output


# -- 10. get_next_update and the errors of esp32.Partition ----------------------------------
# MP ports/esp32/esp32_partition.c:70-73 (ENOENT), 100-118 (ValueError for other ids),
# 285-289 (esp_ota_get_next_update_partition(self->part)); IDF esp_ota_ops.c:738-783.


def test_partition_lookup_and_next_update(make_board) -> None:
    vb = make_board("esp32")
    res = run_ok(
        vb,
        "import esp32\nP = esp32.Partition\n"
        "print('NEXT', [P(n).get_next_update().info()[4] for n in ('ota_0', 'ota_1', 'vfs', 'nvs')])\n"
        + _try("P('nosuch')")
        + _try("P(7)")
        + _try("P('vfs').set_boot()"),
    )
    assert "NEXT ['ota_1', 'ota_0', 'ota_0', 'ota_0']" in res.output
    assert "OSError (2,)" in res.output
    assert "ValueError ()" in res.output
    assert f"OSError ({ESP_ERR_OTA_VALIDATE_FAILED}, 'ESP_ERR_OTA_VALIDATE_FAILED')" in res.output


# -- 11. `sbd vboard exec` fails when the code does ------------------------------------------


def test_exec_exits_non_zero_after_an_uncaught_exception(make_board) -> None:
    vb = make_board("pico_w")
    sbd = str(Path(sys.executable).parent / "sbd")
    env = dict(os.environ)
    fail = subprocess.run(
        [sbd, "vboard", "exec", vb.name, "raise ValueError('boom')"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert fail.returncode != 0 and "ValueError: boom" in fail.stdout + fail.stderr
    ok = subprocess.run(
        [sbd, "vboard", "exec", vb.name, "print('fine')"], capture_output=True, text=True, env=env, timeout=120
    )
    assert ok.returncode == 0 and "fine" in ok.stdout


# -- the done-when: an OTA updater written for a real ESP32 runs unchanged ---------------------
# Written for this test in the style of the published MicroPython OTA libraries (glenn20's
# micropython-esp32-ota: Partition(RUNNING).get_next_update(), io.BufferedWriter over the
# partition, set_boot(), Partition.mark_app_valid_cancel_rollback() to confirm, flashbdev for
# the filesystem partition).  It only uses what a board has.

UPDATER = """
import binascii
import hashlib
import io

from esp32 import Partition
from flashbdev import bdev


class _PartitionSink:
    # Whole blocks go through the simple protocol; the last, partial block is
    # erased and written with the extended one.
    def __init__(self, part):
        self.part = part
        self.bs = part.ioctl(5, 0)
        self.block = 0

    def write(self, buf):
        n = len(buf)
        if n % self.bs:
            self.part.ioctl(6, self.block)
            self.part.writeblocks(self.block, buf, 0)
        else:
            self.part.writeblocks(self.block, buf)
        self.block += (n + self.bs - 1) // self.bs
        return n


def update(path, sha256):
    part = Partition(Partition.RUNNING).get_next_update()
    w = io.BufferedWriter(_PartitionSink(part), part.ioctl(5, 0))
    h = hashlib.sha256()
    buf = bytearray(1000)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            chunk = memoryview(buf)[:n]
            h.update(chunk)
            w.write(chunk)
    w.flush()
    if binascii.hexlify(h.digest()).decode() != sha256:
        raise ValueError("sha256 mismatch")
    part.set_boot()  # OSError(-5379) if the image is not valid
    return part.info()[4]


def cancel():
    Partition.mark_app_valid_cancel_rollback()


def status():
    return Partition(Partition.RUNNING).info()[4], Partition(Partition.BOOT).info()[4], bdev.info()[4]
"""


def test_an_ota_updater_written_for_a_real_esp32_runs_unchanged(make_board, tmp_path: Path) -> None:
    from esptool.bin_image import ELFSection, ESP32FirmwareImage

    img = ESP32FirmwareImage()
    img.entrypoint = 0x40080000
    img.segments = [
        ELFSection(b".dram0.data", 0x3FFB0000, os.urandom(9000 // 4 * 4), 0),
        ELFSection(b".iram0.text", 0x40080000, os.urandom(3000 // 4 * 4), 0),
    ]
    img.save(str(tmp_path / "fw.bin"))
    fw = (tmp_path / "fw.bin").read_bytes()
    assert len(fw) % 4096, "the last block is partial"
    fs = tmp_path / "fs"
    (fs / "lib").mkdir(parents=True)
    (fs / "lib" / "otaupd.py").write_text(UPDATER)
    (fs / "fw.bin").write_bytes(fw)
    (fs / "truncated.bin").write_bytes(fw[: len(fw) - 100])
    vb = make_board("esp32", fs_from=fs)
    sha = hashlib.sha256(fw).hexdigest()
    upd = f"import otaupd\nprint('UPDATED', otaupd.update('fw.bin', {sha!r}))\nprint('STATUS', otaupd.status())"
    status = "import otaupd\nprint('STATUS', otaupd.status())"

    # update; the next boot is a trial boot of ota_1; not confirmed: rolled back
    res = run_ok(vb, upd)
    assert "UPDATED ota_1" in res.output and "STATUS ('ota_0', 'ota_1', 'vfs')" in res.output
    assert vb.image.read_bytes()[OTA1 : OTA1 + len(fw)] == fw
    assert run_ok(vb, status).running == "ota_1"
    assert run_ok(vb, status).running == "ota_0", "unconfirmed: rolled back"
    # update again, confirm on the trial boot: it stays
    run_ok(vb, upd)
    assert run_ok(vb, "import otaupd\notaupd.cancel()").running == "ota_1"
    for _ in range(2):
        assert "STATUS ('ota_1', 'ota_1', 'vfs')" in run_ok(vb, status).output
    # a truncated download is refused at set_boot, and nothing changes
    bad = hashlib.sha256(fw[: len(fw) - 100]).hexdigest()
    res = run_ok(vb, "import otaupd\n" + _try(f"otaupd.update('truncated.bin', {bad!r})"))
    assert f"OSError ({ESP_ERR_OTA_VALIDATE_FAILED}, 'ESP_ERR_OTA_VALIDATE_FAILED')" in res.output
    assert run_ok(vb, status).running == "ota_1"
