"""ESP32 images: partition table, esp32.Partition, A/B boot with rollback."""

from __future__ import annotations

import shutil

import pytest
from conftest import app_image, run_ok, write_app_script

from sbdtools.vboard import runner
from sbdtools.vboard.image import decode_partition_table, encode_partition_table

WRITE_APP_TO_NEXT = write_app_script(app_image("esp32", "sbd-app-v2"))


def test_partition_table_in_the_image_matches_the_board_config(make_board) -> None:
    vb = make_board("esp32")
    cfg = vb.board
    assert cfg.partition_table_offset is not None
    data = vb.image.read_bytes()[cfg.partition_table_offset : cfg.partition_table_offset + 0xC00]
    entries = decode_partition_table(data)
    assert [(e[2], e[3], e[4]) for e in entries] == [(p.offset, p.size, p.name) for p in cfg.partitions]
    assert data.startswith(encode_partition_table(cfg.partitions))
    bad = bytearray(data)
    bad[40] ^= 1  # one bit of ota_0's entry
    with pytest.raises(ValueError, match="MD5"):
        decode_partition_table(bytes(bad))


def test_partitions_seen_from_micropython(make_board) -> None:
    vb = make_board("esp32")
    res = run_ok(
        vb,
        """
import esp32
P = esp32.Partition
print('RUNNING', P(P.RUNNING).info())
print('APPS', [p.info()[4] for p in P.find(P.TYPE_APP)])
print('VFS', [p.info()[2:5] for p in P.find(P.TYPE_DATA, label='vfs')])
print('NEXT', P(P.RUNNING).get_next_update().info()[4])
print('BLOCKS', P('ota_1').ioctl(4, 0), P('ota_1').ioctl(5, 0))
""",
    )
    assert "RUNNING (0, 16, 65536, 1572864, 'ota_0', False)" in res.output
    assert "APPS ['ota_0', 'ota_1']" in res.output
    assert f"VFS [({vb.board.filesystem.offset}, {vb.board.filesystem.size}, 'vfs')]" in res.output
    assert "NEXT ota_1" in res.output
    assert "BLOCKS 384 4096" in res.output


def test_unconfirmed_update_rolls_back_on_the_next_boot(make_board) -> None:
    vb = make_board("esp32")
    run_ok(vb, WRITE_APP_TO_NEXT)
    trial = run_ok(vb, "pass")
    assert trial.running == "ota_1", "the new app boots once, on trial"
    # It never called mark_app_valid_cancel_rollback(): the bootloader rolls back.
    after = run_ok(vb, "pass")
    assert after.running == "ota_0"
    assert run_ok(vb, "pass").running == "ota_0", "and stays rolled back"


def test_confirmed_update_stays(make_board) -> None:
    vb = make_board("esp32")
    run_ok(vb, WRITE_APP_TO_NEXT)
    trial = run_ok(vb, "import esp32\nesp32.Partition.mark_app_valid_cancel_rollback()")
    assert trial.running == "ota_1"
    for _ in range(2):
        assert run_ok(vb, "pass").running == "ota_1"


def test_soft_reset_keeps_the_running_app(make_board) -> None:
    vb = make_board("esp32")
    run_ok(vb, WRITE_APP_TO_NEXT)
    # set_boot chose ota_1, but until a hard reset ota_0 is still what runs.
    res = run_ok(
        vb,
        "import esp32; print('RUN', esp32.Partition(esp32.Partition.RUNNING).info()[4])",
        reset="soft",
        running="ota_0",
    )
    assert "RUN ota_0" in res.output


def test_set_boot_refuses_an_image_that_is_not_bootable(make_board) -> None:
    vb = make_board("esp32")
    res = run_ok(
        vb,
        """
import esp32
nxt = esp32.Partition('ota_1')
nxt.ioctl(6, 0)  # erase its first block: no image magic
try:
    nxt.set_boot(); print('ACCEPTED')
except OSError as e:
    print('REFUSED', e)
""",
    )
    assert "REFUSED" in res.output
    assert run_ok(vb, "pass").running == "ota_0"


def _otadata(vb) -> list[tuple[int, int]]:
    """(ota_seq, ota_state) of both otadata sectors, read from the image on the host."""
    import struct

    od = vb.board.partition("otadata")
    data = vb.image.read_bytes()
    return [struct.unpack_from("<I20sII", data, od.offset + i * 4096)[0:3:2] for i in range(2)]


def test_confirming_after_set_boot_marks_the_new_app_valid_as_esp_idf_does(make_board) -> None:
    # The pitfall ESP-IDF really has: mark_app_valid_cancel_rollback() acts on
    # the active otadata entry, so calling it between set_boot() and the reset
    # makes the new app VALID: no trial boot, and no rollback ever.
    vb = make_board("esp32")
    run_ok(vb, WRITE_APP_TO_NEXT + "esp32.Partition.mark_app_valid_cancel_rollback()")
    assert (2, 2) in _otadata(vb), "otadata entry seq 2 is VALID (state 2)"
    assert run_ok(vb, "pass").running == "ota_1"
    assert run_ok(vb, "pass").running == "ota_1", "never rolled back although it never confirmed itself"


def test_otadata_crc_is_esp_idfs(make_board) -> None:
    import binascii
    import struct

    vb = make_board("esp32")
    run_ok(vb, WRITE_APP_TO_NEXT)
    od = vb.board.partition("otadata")
    data = vb.image.read_bytes()
    # Sector 0 holds the bootloader's {seq 1, VALID} (written at the first boot
    # on blank otadata); set_boot wrote seq 2 into the other sector.
    seq, _label, _state, crc = struct.unpack_from("<I20sII", data, od.offset + 4096)
    assert seq == 2  # slot = (seq - 1) % 2: seq 2 selects ota_1
    # esp_rom_crc32_le(UINT32_MAX, &seq, 4) == zlib crc32 continued from 0xFFFFFFFF
    assert crc == binascii.crc32(struct.pack("<I", 2), 0xFFFFFFFF)
    assert binascii.crc32(struct.pack("<I", 1), 0xFFFFFFFF) == 0x4743989A  # the value for seq 1
    assert crc != binascii.crc32(struct.pack("<I", 2)), "not zlib's plain crc32"


def test_power_cut_during_an_update_keeps_the_confirmed_app(make_board) -> None:
    # ota_1 is the confirmed app; an update back to ota_0 (write the image,
    # set_boot) loses power at every one of its flash operations in turn.
    vb = make_board("esp32")
    run_ok(vb, WRITE_APP_TO_NEXT)
    assert run_ok(vb, "import esp32\nesp32.Partition.mark_app_valid_cancel_rollback()").running == "ota_1"
    before = vb.image.with_suffix(".before")
    shutil.copyfile(vb.image, before)
    counted = run_ok(
        vb, "import vboard\nprint('S', vboard.flash_ops())\n" + WRITE_APP_TO_NEXT + "print('E', vboard.flash_ops())"
    )
    start = int(counted.output.split("S ")[1].split()[0])
    end = int(counted.output.split("E ")[1].split()[0])
    assert end - start >= 3
    for cut in range(start + 1, end + 1):
        shutil.copyfile(before, vb.image)
        assert runner.boot(vb, script=WRITE_APP_TO_NEXT, cut_at=cut).ended == runner.POWER_CUT
        res = run_ok(vb, "pass")
        assert res.running == "ota_1", f"cut at operation {cut}: the confirmed app was lost ({res.running})"
    # and without a cut the update does take effect (on trial)
    shutil.copyfile(before, vb.image)
    run_ok(vb, WRITE_APP_TO_NEXT)
    assert run_ok(vb, "pass").running == "ota_0"
