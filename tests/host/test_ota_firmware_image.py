"""flash.firmware.check_app_image: what `sbd ota add --firmware` asks of an
ESP32 app image (strict) and what `sbd ota verify` judges a device's
set_boot by (not strict): each damage is refused with its own reason."""

from __future__ import annotations

import hashlib

import pytest

from harness.firmware_synth import esp_app_image, esp_firmware, esp_ota_app
from sbdtools import boards
from sbdtools.flash.firmware import FirmwareError, check_app_image

ESP32 = boards.load("esp32")
GOOD = esp_ota_app("esp32", "v1.24.0", 8000)


def _rehash(data: bytes) -> bytes:
    """The appended SHA-256 made right again after a change before it."""
    return data[:-32] + hashlib.sha256(data[:-32]).digest()


def test_a_good_image_is_read_on_both_levels() -> None:
    for strict in (True, False):
        img = check_app_image(GOOD, ESP32, "fw", strict=strict)
        assert img.length == len(GOOD) and img.sha256 == hashlib.sha256(GOOD).hexdigest()
    img = check_app_image(GOOD, ESP32, "fw")
    assert (img.chip, img.project, img.version, img.idf) == ("esp32", "micropython", "v1.24.0", "v5.5")
    s3 = boards.load("esp32s3")
    assert check_app_image(esp_ota_app("esp32s3"), s3, "fw").chip == "esp32s3"


def _damaged() -> dict[str, tuple[bytes, str]]:
    seg = bytearray(GOOD)
    seg[200] ^= 0x10  # segment data: the checksum no longer matches
    digest = bytearray(GOOD)
    digest[-1] ^= 0x01  # the appended SHA-256 alone
    moved = bytearray(GOOD)
    moved[24:28] = (0x3F400040).to_bytes(4, "little")  # DROM segment no longer at its page offset
    return {
        "checksum": (_rehash(bytes(seg)), "checksum does not match"),
        "digest": (bytes(digest), "appended SHA-256 does not match"),
        "page offset": (_rehash(bytes(moved)), "not at its flash page offset"),
        "short": (GOOD[:-40], "fw:"),
        "magic": (b"\x00" + GOOD[1:], "0xE9"),
        "chip": (esp_ota_app("esp32s3"), "built for esp32s3"),
    }


@pytest.mark.parametrize("strict", [True, False])
def test_each_damage_is_refused_on_both_levels(strict: bool) -> None:
    for what, (data, msg) in _damaged().items():
        with pytest.raises(FirmwareError) as e:
            check_app_image(data, ESP32, "fw", strict=strict)
        assert msg in str(e.value), (what, str(e.value))


def test_strict_wants_an_app_alone() -> None:
    # A bootloader-like image (no app description), the full .bin `sbd flash`
    # writes, and trailing bytes: ESP-IDF's set_boot check takes the first two
    # and ignores the tail, so only the publisher's (strict) check refuses them.
    cases = {
        "no app description": (esp_app_image("esp32"), "without an app description"),
        "full .bin": (esp_firmware(ESP32), "full firmware .bin"),
        "trailing bytes": (GOOD + b"\xff" * 16, "followed by 16 more"),
    }
    for what, (data, msg) in cases.items():
        with pytest.raises(FirmwareError) as e:
            check_app_image(data, ESP32, "fw")
        assert msg in str(e.value), (what, str(e.value))
        check_app_image(data, ESP32, "fw", strict=False)


def test_an_rp2_board_runs_no_app_images() -> None:
    with pytest.raises(FirmwareError, match="does not run ESP-IDF app images"):
        check_app_image(GOOD, boards.load("pico_w"), "fw")


def test_the_partition_an_update_must_fit() -> None:
    import dataclasses

    from sbdtools.ota import OtaError, firmware_partition_size

    assert firmware_partition_size(ESP32) == 1572864
    assert firmware_partition_size(boards.load("esp32s3")) == 2555904
    for name in ("pico_w", "pico2_w"):
        with pytest.raises(OtaError, match="RP2 boards have no app partitions"):
            firmware_partition_size(boards.load(name))
    # A factory app and one OTA slot: nowhere to boot a trial from.
    one = dataclasses.replace(
        ESP32,
        partitions=tuple(
            dataclasses.replace(p, subtype="factory") if p.name == "ota_0" else p for p in ESP32.partitions
        ),
    )
    with pytest.raises(OtaError, match="fewer than two OTA app partitions"):
        firmware_partition_size(one)
