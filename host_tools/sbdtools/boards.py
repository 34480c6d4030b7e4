"""Board configs: one JSON file per board in ``board_configs/``.

A config says what the host tools and the virtual board need to know about a
board: chip, flash layout (firmware offset, partitions, filesystem), USB ids
for detection, the mpy architecture for mpy-cross, the heap MicroPython has on
the real port, and what root of trust the silicon offers.  Every file is
validated when loaded; an error names the file, the field and the rule.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

SCHEMA_VERSION = 1
BLOCK_SIZE = 4096  # littlefs block size on every supported port (the flash erase sector)
MAX_CONFIG_BYTES = 64 * 1024
FAMILIES = ("esp32", "rp2")
CHIPS = {"esp32": ("esp32", "esp32s3", "esp32c3", "esp32s2"), "rp2": ("rp2040", "rp2350")}
MPY_ARCHS = (
    "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
    "xtensa", "xtensawin", "rv32imc", "rv64imc",
)
FIRMWARE_FORMATS = ("bin", "uf2")
PARTITION_TYPES = ("app", "data")
ROOT_OF_TRUST_KEYS = ("secure_boot", "flash_encryption", "otp", "debug_lockdown", "notes")
_MAX_PARTITIONS = 16
_MAX_USB_IDS = 16


@dataclass(frozen=True)
class Partition:
    name: str
    type: str
    subtype: str
    offset: int
    size: int


@dataclass(frozen=True)
class Filesystem:
    offset: int
    size: int
    block_size: int

    @property
    def block_count(self) -> int:
        return self.size // self.block_size


@dataclass(frozen=True)
class UsbId:
    vid: int
    pid: int
    what: str


@dataclass(frozen=True)
class BoardConfig:
    name: str
    title: str
    family: str
    chip: str
    mpy_arch: str
    flash_size: int
    firmware_offset: int
    firmware_format: str
    filesystem: Filesystem
    heap_bytes: int
    root_of_trust: dict[str, str | None]
    usb: tuple[UsbId, ...] = ()
    partitions: tuple[Partition, ...] = ()
    partition_table_offset: int | None = None
    uf2_family_id: int | None = None
    flash_base_address: int = 0
    source: str = field(default="", compare=False)

    def partition(self, name: str) -> Partition:
        for p in self.partitions:
            if p.name == name:
                return p
        raise ConfigError(f"{self.source}: board {self.name} has no partition named {name!r}")

    @property
    def app_partitions(self) -> tuple[Partition, ...]:
        return tuple(p for p in self.partitions if p.type == "app")


class _Reader:
    """Reads typed fields from a dict and reports errors with file and path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, rule: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {rule}")

    def get(self, obj: dict[str, Any], key: str, path: str, *, required: bool = True) -> Any:
        if key not in obj:
            if required:
                raise self.fail(f"{path}{key}", "is required")
            return None
        return obj[key]

    def string(self, obj: dict[str, Any], key: str, path: str, *, choices: tuple[str, ...] = (),
               required: bool = True, max_len: int = 200) -> str | None:
        v = self.get(obj, key, path, required=required)
        if v is None and not required:
            return None
        if not isinstance(v, str):
            raise self.fail(f"{path}{key}", f"must be a string, not {type(v).__name__}")
        if not v or len(v) > max_len:
            raise self.fail(f"{path}{key}", f"must be 1 to {max_len} characters")
        if choices and v not in choices:
            raise self.fail(f"{path}{key}", f"must be one of {', '.join(choices)} (got {v!r})")
        return v

    def integer(self, obj: dict[str, Any], key: str, path: str, *, lo: int, hi: int,
                required: bool = True, multiple_of: int = 1) -> int | None:
        v = self.get(obj, key, path, required=required)
        if v is None and not required:
            return None
        if not isinstance(v, int) or isinstance(v, bool):
            raise self.fail(f"{path}{key}", f"must be an integer, not {type(v).__name__}")
        if not lo <= v <= hi:
            raise self.fail(f"{path}{key}", f"must be between {lo} and {hi} (got {v})")
        if v % multiple_of:
            raise self.fail(f"{path}{key}", f"must be a multiple of {multiple_of} (got {v:#x})")
        return v


def parse(data: bytes, source: str) -> BoardConfig:
    """Parse and validate one board config; raise ConfigError naming file, field and rule."""
    r = _Reader(source)
    if len(data) > MAX_CONFIG_BYTES:
        raise r.fail("(file)", f"larger than {MAX_CONFIG_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise r.fail("(file)", f"not valid JSON ({e})") from e
    if not isinstance(doc, dict):
        raise r.fail("(file)", "must be a JSON object")
    known = {
        "schema", "name", "title", "family", "chip", "mpy_arch", "flash_size", "firmware_offset",
        "firmware_format", "partition_table_offset", "partitions", "filesystem", "usb", "heap_bytes",
        "root_of_trust", "uf2_family_id", "flash_base_address",
    }
    for k in doc:
        if k not in known:
            raise r.fail(str(k), "is not a known field (check the spelling)")
    r.integer(doc, "schema", "", lo=SCHEMA_VERSION, hi=SCHEMA_VERSION)
    name = r.string(doc, "name", "", max_len=32)
    assert name is not None
    if not all(c.isalnum() or c == "_" for c in name) or not name.islower() and not name.isdigit():
        raise r.fail("name", "must be lower-case letters, digits and '_'")
    title = r.string(doc, "title", "")
    family = r.string(doc, "family", "", choices=FAMILIES)
    assert family is not None
    chip = r.string(doc, "chip", "", choices=CHIPS[family])
    mpy_arch = r.string(doc, "mpy_arch", "", choices=MPY_ARCHS)
    flash_size = r.integer(doc, "flash_size", "", lo=256 * 1024, hi=64 * 1024 * 1024, multiple_of=BLOCK_SIZE)
    assert flash_size is not None
    fw_off = r.integer(doc, "firmware_offset", "", lo=0, hi=flash_size - 1)
    fw_fmt = r.string(doc, "firmware_format", "", choices=FIRMWARE_FORMATS)
    heap = r.integer(doc, "heap_bytes", "", lo=16 * 1024, hi=64 * 1024 * 1024)

    fs_doc = r.get(doc, "filesystem", "")
    if not isinstance(fs_doc, dict):
        raise r.fail("filesystem", "must be an object")
    fs_off = r.integer(fs_doc, "offset", "filesystem.", lo=0, hi=flash_size - BLOCK_SIZE, multiple_of=BLOCK_SIZE)
    fs_bs = r.integer(fs_doc, "block_size", "filesystem.", lo=BLOCK_SIZE, hi=BLOCK_SIZE)
    fs_size = r.integer(fs_doc, "size", "filesystem.", lo=8 * BLOCK_SIZE, hi=flash_size, multiple_of=BLOCK_SIZE)
    assert fs_off is not None and fs_size is not None and fs_bs is not None
    if fs_off + fs_size > flash_size:
        raise r.fail("filesystem", f"ends at {fs_off + fs_size:#x}, past the end of flash ({flash_size:#x})")
    filesystem = Filesystem(fs_off, fs_size, fs_bs)

    parts_doc = r.get(doc, "partitions", "", required=False) or []
    if not isinstance(parts_doc, list) or len(parts_doc) > _MAX_PARTITIONS:
        raise r.fail("partitions", f"must be a list of at most {_MAX_PARTITIONS} partitions")
    partitions: list[Partition] = []
    for i, p in enumerate(parts_doc):
        path = f"partitions[{i}]."
        if not isinstance(p, dict):
            raise r.fail(path[:-1], "must be an object")
        pname = r.string(p, "name", path, max_len=16)
        ptype = r.string(p, "type", path, choices=PARTITION_TYPES)
        psub = r.string(p, "subtype", path, max_len=16)
        poff = r.integer(p, "offset", path, lo=0, hi=flash_size - BLOCK_SIZE, multiple_of=BLOCK_SIZE)
        psize = r.integer(p, "size", path, lo=BLOCK_SIZE, hi=flash_size, multiple_of=BLOCK_SIZE)
        assert pname and ptype and psub and poff is not None and psize is not None
        if poff + psize > flash_size:
            raise r.fail(path + "size", f"partition ends past the end of flash ({flash_size:#x})")
        if ptype == "app" and poff % 0x10000:
            raise r.fail(path + "offset", "app partitions must be 64 KiB aligned")
        for q in partitions:
            if poff < q.offset + q.size and q.offset < poff + psize:
                raise r.fail(path + "offset", f"overlaps partition {q.name!r}")
            if q.name == pname:
                raise r.fail(path + "name", f"duplicate partition name {pname!r}")
        partitions.append(Partition(pname, ptype, psub, poff, psize))
    pt_off = r.integer(doc, "partition_table_offset", "", lo=0, hi=flash_size - BLOCK_SIZE,
                       multiple_of=BLOCK_SIZE, required=family == "esp32")
    if family == "esp32":
        if len([p for p in partitions if p.type == "app"]) < 2:
            raise r.fail("partitions", "an ESP32 board needs two app partitions (ota_0, ota_1) for A/B updates")
        if not any(p.subtype == "ota" for p in partitions):
            raise r.fail("partitions", "an ESP32 board needs an otadata partition")
        if not any(p.offset == fs_off and p.size == fs_size for p in partitions):
            raise r.fail("filesystem", "must match one partition's offset and size exactly")
    elif fw_off + 256 * 1024 > fs_off and fs_off > fw_off:
        raise r.fail("filesystem.offset", "leaves less than 256 KiB for the firmware")

    usb_doc = r.get(doc, "usb", "", required=False) or []
    if not isinstance(usb_doc, list) or len(usb_doc) > _MAX_USB_IDS:
        raise r.fail("usb", f"must be a list of at most {_MAX_USB_IDS} ids")
    usb: list[UsbId] = []
    for i, u in enumerate(usb_doc):
        path = f"usb[{i}]."
        if not isinstance(u, dict):
            raise r.fail(path[:-1], "must be an object")
        vid = r.integer(u, "vid", path, lo=1, hi=0xFFFF)
        pid = r.integer(u, "pid", path, lo=0, hi=0xFFFF)
        what = r.string(u, "what", path)
        assert vid is not None and pid is not None and what is not None
        usb.append(UsbId(vid, pid, what))

    rot = r.get(doc, "root_of_trust", "")
    if not isinstance(rot, dict):
        raise r.fail("root_of_trust", "must be an object")
    for k in ROOT_OF_TRUST_KEYS:
        if k not in rot:
            raise r.fail(f"root_of_trust.{k}", "is required (null when the board has none)")
    for k, v in rot.items():
        if k not in ROOT_OF_TRUST_KEYS:
            raise r.fail(f"root_of_trust.{k}", "is not a known field")
        if v is not None and (not isinstance(v, str) or not v):
            raise r.fail(f"root_of_trust.{k}", "must be a non-empty string or null")

    uf2 = r.integer(doc, "uf2_family_id", "", lo=0, hi=0xFFFFFFFF, required=fw_fmt == "uf2")
    base = r.integer(doc, "flash_base_address", "", lo=0, hi=0xFFFFFFFF, required=False) or 0
    assert title and chip and mpy_arch and fw_off is not None and fw_fmt and heap is not None
    return BoardConfig(
        name=name, title=title, family=family, chip=chip, mpy_arch=mpy_arch, flash_size=flash_size,
        firmware_offset=fw_off, firmware_format=fw_fmt, filesystem=filesystem, heap_bytes=heap,
        root_of_trust=dict(rot), usb=tuple(usb), partitions=tuple(partitions),
        partition_table_offset=pt_off, uf2_family_id=uf2, flash_base_address=base, source=source,
    )


def _configs_dir() -> Path:
    # In a source checkout the configs sit at the top level; installed, they are package data.
    here = Path(__file__).resolve().parent
    checkout = here.parent.parent / "board_configs"
    if checkout.is_dir():
        return checkout
    return here / "board_configs"


def names() -> list[str]:
    """The names of the boards sbd ships configs for."""
    return sorted(p.stem for p in _configs_dir().glob("*.json"))


def load(name_or_path: str | os.PathLike[str]) -> BoardConfig:
    """Load a board by name (``pico_w``) or from a JSON file path."""
    s = os.fspath(name_or_path)
    if s.endswith(".json") or os.sep in s:
        path = Path(s)
    else:
        path = _configs_dir() / f"{s}.json"
        if not path.is_file():
            raise ConfigError(f"unknown board {s!r}; known boards: {', '.join(names())}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from e
    cfg = parse(data, str(path))
    if path.stem != cfg.name and not (s.endswith(".json") or os.sep in s):
        raise ConfigError(f"{path}: name: must match the file name ({path.stem!r})")
    return cfg
