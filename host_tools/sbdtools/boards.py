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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .mpytools import NATIVE_ARCHS

SCHEMA_VERSION = 1
BLOCK_SIZE = 4096  # littlefs block size on every supported port (the flash erase sector)
MAX_CONFIG_BYTES = 64 * 1024
FAMILIES = ("esp32", "rp2")
CHIPS = {"esp32": ("esp32", "esp32s3", "esp32c3", "esp32s2"), "rp2": ("rp2040", "rp2350")}
# What mpy-cross can compile for: the architectures of the .mpy format.
MPY_ARCHS = tuple(a for a in NATIVE_ARCHS if a)
FIRMWARE_FORMATS = ("bin", "uf2")
PARTITION_TYPES = ("app", "data")
ROOT_OF_TRUST_KEYS = ("secure_boot", "flash_encryption", "otp", "debug_lockdown", "notes")
_MAX_PARTITIONS = 16
_MAX_USB_IDS = 16
_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_PARTITION_TABLE_SIZE = 0x1000  # ESP-IDF: the table and its MD5 fill one flash sector
_MIN_FIRMWARE = 256 * 1024
# VfsLfs2 progsize per family when the config does not say (see Filesystem.prog_size).
DEFAULT_PROG_SIZE = {"esp32": 32, "rp2": 256}
PROG_SIZES = (16, 32, 64, 128, 256, 512)


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
    # littlefs program size the port's VfsLfs2 uses: 256 on rp2 (ports/rp2/modules/_boot.py:
    # the flash needs 256-byte aligned programming), VfsLfs2's default 32 elsewhere.
    prog_size: int = 32

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
    # PBKDF2 iterations of the password verifier: about 0.3-0.5 s per check
    # on this board (docs/identity.md; estimates until measured on hardware).
    pbkdf2_iterations: int
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


def _json_type(v: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number with a fraction"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


class _Reader:
    """Reads typed fields from a dict and reports errors with file and path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, rule: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {rule}")

    def only(self, obj: dict[str, Any], path: str, known: tuple[str, ...]) -> None:
        for k in obj:
            if k not in known:
                raise self.fail(f"{path}{k}", "is not a known field (check the spelling)")

    def obj(self, v: Any, path: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(path, f"must be an object, not {_json_type(v)}")
        return v

    def array(self, obj: dict[str, Any], key: str, *, max_items: int) -> list[Any]:
        v = self.get(obj, key, "", required=False)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(key, f"must be a list, not {_json_type(v)}")
        if len(v) > max_items:
            raise self.fail(key, f"must have at most {max_items} entries (has {len(v)})")
        return v

    def get(self, obj: dict[str, Any], key: str, path: str, *, required: bool = True) -> Any:
        if key not in obj:
            if required:
                raise self.fail(f"{path}{key}", "is required")
            return None
        return obj[key]

    def string(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        *,
        choices: tuple[str, ...] = (),
        required: bool = True,
        max_len: int = 200,
    ) -> str | None:
        v = self.get(obj, key, path, required=required)
        if v is None and not required:
            return None
        if not isinstance(v, str):
            raise self.fail(f"{path}{key}", f"must be a string, not {_json_type(v)}")
        if not v or len(v) > max_len:
            raise self.fail(f"{path}{key}", f"must be 1 to {max_len} characters")
        if choices and v not in choices:
            raise self.fail(f"{path}{key}", f"must be one of {', '.join(choices)} (got {v!r})")
        return v

    def integer(
        self, obj: dict[str, Any], key: str, path: str, *, lo: int, hi: int, required: bool = True, multiple_of: int = 1
    ) -> int | None:
        v = self.get(obj, key, path, required=required)
        if v is None and not required:
            return None
        if not isinstance(v, int) or isinstance(v, bool):
            raise self.fail(f"{path}{key}", f"must be an integer, not {_json_type(v)}")
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
        doc = json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as e:
        raise r.fail("(file)", f"not valid JSON ({e})") from e
    doc = r.obj(doc, "(file)")
    r.only(
        doc,
        "",
        (
            "schema",
            "name",
            "title",
            "family",
            "chip",
            "mpy_arch",
            "flash_size",
            "firmware_offset",
            "firmware_format",
            "partition_table_offset",
            "partitions",
            "filesystem",
            "usb",
            "heap_bytes",
            "root_of_trust",
            "uf2_family_id",
            "flash_base_address",
            "pbkdf2_iterations",
        ),
    )
    schema = r.get(doc, "schema", "")
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        raise r.fail("schema", f"must be {SCHEMA_VERSION}, the version this sbd reads (got {schema!r})")
    name = r.string(doc, "name", "", max_len=32)
    if name is None or not _NAME_RE.fullmatch(name):
        raise r.fail("name", "must be lower-case ASCII letters, digits and '_'")
    title = r.string(doc, "title", "")
    family = r.string(doc, "family", "", choices=FAMILIES)
    if family is None:
        raise r.fail("family", "is required")
    chip = r.string(doc, "chip", "", choices=CHIPS[family])
    mpy_arch = r.string(doc, "mpy_arch", "", choices=MPY_ARCHS)
    flash_size = r.integer(doc, "flash_size", "", lo=256 * 1024, hi=64 * 1024 * 1024, multiple_of=BLOCK_SIZE)
    if flash_size is None:
        raise r.fail("flash_size", "is required")
    fw_off = r.integer(doc, "firmware_offset", "", lo=0, hi=flash_size - 1)
    if fw_off is None:
        raise r.fail("firmware_offset", "is required")
    fw_fmt = r.string(doc, "firmware_format", "", choices=FIRMWARE_FORMATS)
    heap = r.integer(doc, "heap_bytes", "", lo=16 * 1024, hi=64 * 1024 * 1024)
    # The bounds sbd.identity accepts in a factory record.
    iterations = r.integer(doc, "pbkdf2_iterations", "", lo=1000, hi=10_000_000)

    fs_doc = r.obj(r.get(doc, "filesystem", ""), "filesystem")
    r.only(fs_doc, "filesystem.", ("offset", "size", "block_size", "prog_size"))
    fs_off = r.integer(fs_doc, "offset", "filesystem.", lo=0, hi=flash_size - BLOCK_SIZE, multiple_of=BLOCK_SIZE)
    fs_bs = r.integer(fs_doc, "block_size", "filesystem.", lo=BLOCK_SIZE, hi=BLOCK_SIZE)
    fs_size = r.integer(fs_doc, "size", "filesystem.", lo=8 * BLOCK_SIZE, hi=flash_size, multiple_of=BLOCK_SIZE)
    if fs_off is None or fs_size is None or fs_bs is None:
        raise r.fail("filesystem", "needs offset, size and block_size")
    if fs_off + fs_size > flash_size:
        raise r.fail(
            "filesystem.size", f"the filesystem ends at {fs_off + fs_size:#x}, past the end of flash ({flash_size:#x})"
        )
    if fs_off < fw_off + _MIN_FIRMWARE:
        raise r.fail(
            "filesystem.offset",
            f"must leave at least {_MIN_FIRMWARE // 1024} KiB after firmware_offset ({fw_off:#x}) for the firmware",
        )
    prog = r.integer(fs_doc, "prog_size", "filesystem.", lo=PROG_SIZES[0], hi=PROG_SIZES[-1], required=False)
    if prog is None:
        prog = DEFAULT_PROG_SIZE[family]
    elif prog not in PROG_SIZES:
        raise r.fail("filesystem.prog_size", f"must be one of {', '.join(map(str, PROG_SIZES))} (got {prog})")
    filesystem = Filesystem(fs_off, fs_size, fs_bs, prog)

    pt_off = r.integer(
        doc,
        "partition_table_offset",
        "",
        lo=0,
        hi=flash_size - BLOCK_SIZE,
        multiple_of=BLOCK_SIZE,
        required=family == "esp32",
    )
    if pt_off is not None and pt_off <= fw_off:
        raise r.fail(
            "partition_table_offset", f"must come after firmware_offset ({fw_off:#x}): the bootloader sits between them"
        )
    partitions: list[Partition] = []
    for i, p in enumerate(r.array(doc, "partitions", max_items=_MAX_PARTITIONS)):
        path = f"partitions[{i}]."
        p = r.obj(p, path[:-1])
        r.only(p, path, ("name", "type", "subtype", "offset", "size"))
        pname = r.string(p, "name", path, max_len=16)
        ptype = r.string(p, "type", path, choices=PARTITION_TYPES)
        psub = r.string(p, "subtype", path, max_len=16)
        poff = r.integer(p, "offset", path, lo=0, hi=flash_size - BLOCK_SIZE, multiple_of=BLOCK_SIZE)
        psize = r.integer(p, "size", path, lo=BLOCK_SIZE, hi=flash_size, multiple_of=BLOCK_SIZE)
        if not (pname and ptype and psub) or poff is None or psize is None:
            raise r.fail(path[:-1], "needs name, type, subtype, offset and size")
        if poff + psize > flash_size:
            raise r.fail(
                path + "size", f"the partition ends at {poff + psize:#x}, past the end of flash ({flash_size:#x})"
            )
        if ptype == "app" and poff % 0x10000:
            raise r.fail(path + "offset", "app partitions must be 64 KiB aligned")
        if pt_off is not None and poff < pt_off + _PARTITION_TABLE_SIZE:
            raise r.fail(
                path + "offset",
                f"must be at or after {pt_off + _PARTITION_TABLE_SIZE:#x}, past the bootloader and the partition table",
            )
        for q in partitions:
            if q.name == pname:
                raise r.fail(path + "name", f"duplicate partition name {pname!r}")
            if poff < q.offset + q.size and q.offset < poff + psize:
                raise r.fail(path + "offset", f"partition {pname!r} overlaps partition {q.name!r}")
        partitions.append(Partition(pname, ptype, psub, poff, psize))
    if family == "esp32":
        if len([p for p in partitions if p.type == "app"]) < 2:
            raise r.fail("partitions", "an ESP32 board needs two app partitions (ota_0, ota_1) for A/B updates")
        if not any(p.type == "data" and p.subtype == "ota" for p in partitions):
            raise r.fail("partitions", "an ESP32 board needs an otadata partition")
        if not any(p.type == "data" and p.offset == fs_off and p.size == fs_size for p in partitions):
            raise r.fail("filesystem", "must match one data partition's offset and size exactly")
    else:
        for p in partitions:
            if p.offset < fs_off + fs_size and fs_off < p.offset + p.size:
                raise r.fail("filesystem", f"overlaps partition {p.name!r}")

    usb: list[UsbId] = []
    for i, u in enumerate(r.array(doc, "usb", max_items=_MAX_USB_IDS)):
        path = f"usb[{i}]."
        u = r.obj(u, path[:-1])
        r.only(u, path, ("vid", "pid", "what"))
        vid = r.integer(u, "vid", path, lo=1, hi=0xFFFF)
        pid = r.integer(u, "pid", path, lo=0, hi=0xFFFF)
        what = r.string(u, "what", path)
        if vid is None or pid is None or what is None:
            raise r.fail(path[:-1], "needs vid, pid and what")
        usb.append(UsbId(vid, pid, what))

    rot = r.obj(r.get(doc, "root_of_trust", ""), "root_of_trust")
    r.only(rot, "root_of_trust.", ROOT_OF_TRUST_KEYS)
    for k in ROOT_OF_TRUST_KEYS:
        if k not in rot:
            raise r.fail(f"root_of_trust.{k}", "is required (null when the board has none)")
        v = rot[k]
        if v is not None and (not isinstance(v, str) or not v or len(v) > 1000):
            raise r.fail(f"root_of_trust.{k}", "must be a non-empty string (at most 1000 characters) or null")

    uf2 = r.integer(doc, "uf2_family_id", "", lo=0, hi=0xFFFFFFFF, required=fw_fmt == "uf2")
    base = r.integer(doc, "flash_base_address", "", lo=0, hi=0xFFFFFFFF, required=False) or 0
    if not (title and chip and mpy_arch and fw_fmt) or heap is None or iterations is None:  # required
        raise r.fail("(file)", "incomplete")
    return BoardConfig(
        name=name,
        title=title,
        family=family,
        chip=chip,
        mpy_arch=mpy_arch,
        flash_size=flash_size,
        firmware_offset=fw_off,
        firmware_format=fw_fmt,
        filesystem=filesystem,
        heap_bytes=heap,
        pbkdf2_iterations=iterations,
        root_of_trust=dict(rot),
        usb=tuple(usb),
        partitions=tuple(partitions),
        partition_table_offset=pt_off,
        uf2_family_id=uf2,
        flash_base_address=base,
        source=source,
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
        with open(path, "rb") as f:  # bounded: never slurp a huge or endless file
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from e
    cfg = parse(data, str(path))
    if path.stem != cfg.name and not (s.endswith(".json") or os.sep in s):
        raise ConfigError(f"{path}: name: must match the file name ({path.stem!r})")
    return cfg
