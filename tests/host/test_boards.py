"""Board configs: the shipped ones load; broken ones fail naming file, field and rule."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbdtools import boards
from sbdtools.boards import BoardConfig
from sbdtools.errors import ConfigError

SHIPPED = boards.names()


def raw(name: str) -> dict[str, Any]:
    path = boards._configs_dir() / f"{name}.json"
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def test_the_four_boards_ship() -> None:
    assert set(SHIPPED) >= {"esp32", "esp32s3", "pico_w", "pico2_w"}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_loads(name: str) -> None:
    cfg = boards.load(name)
    assert isinstance(cfg, BoardConfig)
    assert cfg.name == name and cfg.source.endswith(f"{name}.json")
    fs = cfg.filesystem
    assert fs.block_size == 4096 and fs.block_count * 4096 == fs.size
    assert fs.offset + fs.size <= cfg.flash_size
    assert cfg.usb, "USB ids are needed for detection"
    assert set(cfg.root_of_trust) == set(boards.ROOT_OF_TRUST_KEYS)
    if cfg.family == "esp32":
        assert len(cfg.app_partitions) == 2
        assert cfg.partition("vfs").offset == fs.offset
        assert cfg.firmware_format == "bin" and cfg.partition_table_offset is not None
    else:
        assert cfg.firmware_format == "uf2" and cfg.uf2_family_id is not None
    # Loading by path gives the same config.
    assert boards.load(cfg.source) == cfg


def test_expected_geometry() -> None:
    assert boards.load("esp32").mpy_arch == "xtensawin"
    assert boards.load("pico_w").mpy_arch == "armv6m"
    assert boards.load("pico2_w").mpy_arch == "armv7emsp"
    assert boards.load("esp32").flash_size == 4 * 1024 * 1024
    assert boards.load("esp32s3").flash_size == 8 * 1024 * 1024
    # The rp2 port's board files (micropython ports/rp2/boards/RPI_PICO_W and RPI_PICO2_W
    # mpconfigboard.cmake, MICROPY_HW_FLASH_STORAGE_BYTES) put the filesystem at the end of flash:
    # 848 KiB on the Pico W, 2.5 MiB (4 MiB - 1.5 MiB) on the Pico 2 W.
    for name, size in (("pico_w", 868352), ("pico2_w", 2621440)):
        cfg = boards.load(name)
        assert (cfg.filesystem.size, cfg.filesystem.offset + cfg.filesystem.size) == (size, cfg.flash_size)


def test_prog_size_defaults_to_the_ports_vfs_settings(tmp_path: Path) -> None:
    # rp2's _boot.py mounts VfsLfs2(bdev, progsize=256); esp32 uses VfsLfs2's default 32.
    assert boards.load("pico_w").filesystem.prog_size == 256
    assert boards.load("pico2_w").filesystem.prog_size == 256
    assert boards.load("esp32").filesystem.prog_size == 32
    doc = raw("esp32")
    doc["filesystem"]["prog_size"] = 128
    path = tmp_path / "esp32.json"
    path.write_text(json.dumps(doc))
    assert boards.load(path).filesystem.prog_size == 128


def test_unknown_board_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown board 'nope'; known boards: esp32, esp32s3"):
        boards.load("nope")


def test_missing_partition_names_board_and_partition() -> None:
    with pytest.raises(ConfigError, match=r"esp32\.json: board esp32 has no partition named 'nvs2'"):
        boards.load("esp32").partition("nvs2")


# --------------------------------------------------------------------------- broken configs

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        keys = path.split(".")
        obj: Any = doc
        for k in keys[:-1]:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        last = keys[-1]
        if isinstance(obj, list):
            obj[int(last)] = value
        else:
            obj[last] = value

    return edit


def _del(path: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        keys = path.split(".")
        obj: Any = doc
        for k in keys[:-1]:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        del obj[keys[-1]]

    return edit


BROKEN: list[tuple[str, str, Edit, str]] = [
    # (id, base board, edit, expected "field: rule" fragment)
    ("missing-field", "pico_w", _del("flash_size"), "flash_size: is required"),
    ("missing-iterations", "esp32", _del("pbkdf2_iterations"), "pbkdf2_iterations: is required"),
    (
        "few-iterations",
        "pico_w",
        _set("pbkdf2_iterations", 999),
        "pbkdf2_iterations: must be between 1000 and 10000000 (got 999)",
    ),
    ("missing-nested", "esp32", _del("filesystem.size"), "filesystem.size: is required"),
    ("missing-usb-field", "pico_w", _del("usb.0.pid"), "usb[0].pid: is required"),
    ("wrong-type-str", "pico_w", _set("flash_size", "2MB"), "flash_size: must be an integer, not a string"),
    (
        "wrong-type-float",
        "pico_w",
        _set("heap_bytes", 1.5),
        "heap_bytes: must be an integer, not a number with a fraction",
    ),
    (
        "wrong-type-bool",
        "esp32",
        _set("partitions.0.size", True),
        "partitions[0].size: must be an integer, not a boolean",
    ),
    ("wrong-type-null", "pico_w", _set("title", None), "title: must be a string, not null"),
    ("wrong-type-object", "pico_w", _set("filesystem", [1]), "filesystem: must be an object, not a list"),
    ("wrong-type-list", "esp32", _set("partitions", {}), "partitions: must be a list, not an object"),
    ("wrong-type-usb", "pico_w", _set("usb", "2e8a:0005"), "usb: must be a list, not a string"),
    ("partition-not-object", "esp32", _set("partitions.2", "phy"), "partitions[2]: must be an object"),
    (
        "overlap",
        "esp32",
        _set("partitions.4.offset", 0x20000),
        "partitions[4].offset: partition 'ota_1' overlaps partition 'ota_0'",
    ),
    (
        "duplicate-partition",
        "esp32",
        _set("partitions.2.name", "nvs"),
        "partitions[2].name: duplicate partition name 'nvs'",
    ),
    (
        "partition-past-end",
        "esp32",
        _set("partitions.5.size", 0x100000),
        "partitions[5].size: the partition ends at 0x410000, past the end of flash (0x400000)",
    ),
    (
        "partition-over-bootloader",
        "esp32",
        _set("partitions.0.offset", 0x1000),
        "partitions[0].offset: must be at or after 0x9000",
    ),
    ("app-misaligned", "esp32", _set("partitions.3.offset", 0x11000), "64 KiB aligned"),
    (
        "fs-past-end",
        "pico_w",
        _set("filesystem.size", 868352 + 0x10000),
        "filesystem.size: the filesystem ends at 0x210000, past the end of flash (0x200000)",
    ),
    (
        "fs-over-firmware",
        "pico2_w",
        _set("filesystem.offset", 0x10000),
        "filesystem.offset: must leave at least 256 KiB after firmware_offset",
    ),
    (
        "fs-not-a-partition",
        "esp32",
        _set("filesystem.size", 0x80000),
        "filesystem: must match one data partition's offset and size exactly",
    ),
    (
        "fs-misaligned",
        "pico_w",
        _set("filesystem.offset", 1228800 + 100),
        "filesystem.offset: must be a multiple of 4096",
    ),
    (
        "fs-block-size",
        "pico_w",
        _set("filesystem.block_size", 512),
        "filesystem.block_size: must be between 4096 and 4096 (got 512)",
    ),
    ("fs-too-small", "pico_w", _set("filesystem.size", 4096), "filesystem.size: must be between"),
    (
        "no-otadata",
        "esp32",
        _set("partitions.1.subtype", "nvs_keys"),
        "partitions: an ESP32 board needs an otadata partition",
    ),
    ("one-app", "esp32", _set("partitions.4.type", "data"), "partitions: an ESP32 board needs two app partitions"),
    (
        "pt-before-bootloader",
        "esp32",
        _set("partition_table_offset", 0),
        "partition_table_offset: must come after firmware_offset",
    ),
    ("no-pt", "esp32s3", _del("partition_table_offset"), "partition_table_offset: is required"),
    ("unknown-field", "pico_w", _set("flsh_size", 1), "flsh_size: is not a known field (check the spelling)"),
    ("unknown-nested", "esp32", _set("filesystem.blocksize", 4096), "filesystem.blocksize: is not a known field"),
    ("unknown-usb", "pico_w", _set("usb.1.serial", "x"), "usb[1].serial: is not a known field"),
    (
        "unknown-partition",
        "esp32",
        _set("partitions.0.flags", "encrypted"),
        "partitions[0].flags: is not a known field",
    ),
    ("unknown-rot", "pico_w", _set("root_of_trust.tpm", None), "root_of_trust.tpm: is not a known field"),
    ("rot-missing", "pico_w", _del("root_of_trust.otp"), "root_of_trust.otp: is required (null when"),
    ("rot-empty", "esp32", _set("root_of_trust.otp", ""), "root_of_trust.otp: must be a non-empty string"),
    ("bad-choice", "pico_w", _set("family", "stm32"), "family: must be one of esp32, rp2 (got 'stm32')"),
    ("chip-of-other-family", "pico_w", _set("chip", "esp32"), "chip: must be one of rp2040, rp2350"),
    ("bad-arch", "pico_w", _set("mpy_arch", "armv9"), "mpy_arch: must be one of"),
    ("schema", "pico_w", _set("schema", 2), "schema: must be 1, the version this sbd reads (got 2)"),
    ("schema-bool", "pico_w", _set("schema", True), "schema: must be 1"),
    ("name-upper", "pico_w", _set("name", "Pico_W"), "name: must be lower-case ASCII letters"),
    ("name-non-ascii", "pico_w", _set("name", "p\u00efco"), "name: must be lower-case ASCII letters"),
    ("name-path", "pico_w", _set("name", "../x"), "name: must be lower-case ASCII letters"),
    ("vid-zero", "pico_w", _set("usb.0.vid", 0), "usb[0].vid: must be between 1 and 65535 (got 0)"),
    ("pid-too-big", "pico_w", _set("usb.0.pid", 0x10000), "usb[0].pid: must be between 0 and 65535"),
    ("uf2-missing", "pico_w", _del("uf2_family_id"), "uf2_family_id: is required"),
    (
        "too-many-usb",
        "pico_w",
        _set("usb", [{"vid": 1, "pid": 1, "what": "x"}] * 17),
        "usb: must have at most 16 entries (has 17)",
    ),
    ("empty-string", "pico_w", _set("title", ""), "title: must be 1 to 200 characters"),
    ("prog-size", "pico_w", _set("filesystem.prog_size", 100), "filesystem.prog_size: must be one of 16, 32"),
    (
        "prog-size-type",
        "esp32",
        _set("filesystem.prog_size", "256"),
        "filesystem.prog_size: must be an integer, not a string",
    ),
]


@pytest.mark.parametrize(("base", "edit", "expect"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_config(tmp_path: Path, base: str, edit: Edit, expect: str) -> None:
    doc = copy.deepcopy(raw(base))
    edit(doc)
    path = tmp_path / f"{base}.json"
    path.write_text(json.dumps(doc, indent=2))
    with pytest.raises(ConfigError) as ei:
        boards.load(path)
    msg = str(ei.value)
    assert msg.startswith(f"{path}: "), msg  # names the file
    assert expect in msg, msg  # names the field and the rule


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b'{"schema": 1, "name": ', "(file): not valid JSON"),
        (b"\xff\xfe\x00garbage", "(file): not valid JSON"),
        (b"[1, 2]", "(file): must be an object, not a list"),
        (b'{"schema": 1, "schema": 1}', "(file): not valid JSON (duplicate key 'schema')"),
        (b"", "(file): not valid JSON"),
    ],
)
def test_bad_json(tmp_path: Path, content: bytes, expect: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as ei:
        boards.load(path)
    assert str(ei.value).startswith(f"{path}: {expect}"), str(ei.value)


def test_oversize_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(4 * 1024**3)  # sparse 4 GiB: reading it whole would take the machine's memory
    with pytest.raises(ConfigError, match=rf"^{path}: \(file\): larger than 65536 bytes"):
        boards.load(path)
    doc = raw("pico_w")
    doc["title"] = "x" * 70_000  # valid JSON, just too big
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="larger than 65536 bytes"):
        boards.load(path)


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.json: cannot read \(No such file"):
        boards.load(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="cannot read"):
        boards.load(str(tmp_path) + "/")


def test_name_must_match_file_name_when_loaded_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = raw("pico_w")
    (tmp_path / "my_board.json").write_text(json.dumps(doc))
    monkeypatch.setattr(boards, "_configs_dir", lambda: tmp_path)
    assert boards.names() == ["my_board"]
    with pytest.raises(ConfigError, match=r"my_board\.json: name: must match the file name \('my_board'\)"):
        boards.load("my_board")


# --------------------------------------------------------------------------- fuzz: only ConfigError, ever

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(base=st.sampled_from(SHIPPED), data=st.data())
def test_mutated_configs_fail_cleanly(base: str, data: st.DataObject) -> None:
    doc = raw(base)
    # Replace one field (top level or one level down) with an arbitrary JSON value.
    key = data.draw(st.sampled_from(sorted(doc)))
    value = data.draw(json_values)
    if isinstance(doc[key], dict) and doc[key] and data.draw(st.booleans()):
        sub = data.draw(st.sampled_from(sorted(doc[key])))
        doc[key][sub] = value
    else:
        doc[key] = value
    try:
        cfg = boards.parse(json.dumps(doc).encode(), "fuzz.json")
    except ConfigError as e:
        assert str(e).startswith("fuzz.json: "), e
    else:
        assert cfg.filesystem.offset + cfg.filesystem.size <= cfg.flash_size


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_fail_cleanly(blob: bytes) -> None:
    with pytest.raises(ConfigError, match=r"^x\.json: "):
        boards.parse(blob, "x.json")
