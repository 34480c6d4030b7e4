"""littlefs2 filesystem images for a board's filesystem region.

Builds the image MicroPython's ``vfs.VfsLfs2`` mounts on a board (or on the
virtual board) from a folder on the host, and reads such an image back: list
it, read it into memory, extract it to a folder.  The geometry comes from the
board config (block size 4096, block count = filesystem size / 4096); the
littlefs settings are the ones the port's ``VfsLfs2`` uses (``extmod/vfs_lfs.c``
defaults: read size 32, program size 32, lookahead 32, cache 4 * max(read, prog),
block_cycles 100, name max 255; the rp2 port mounts with ``progsize=256``, which
the board config carries as ``filesystem.prog_size``), and the on-disk version is
littlefs 2.0 so that every MicroPython >= 1.22 mounts it (newer littlefs mounts
2.0 volumes and upgrades them to 2.1 on the first write; older littlefs refuses
2.1 volumes).

Both directions are bounded.  Building refuses what would not survive on the
board: a file that does not fit (the error names it and the space left), a
symlink leading out of the source folder, a special file, a name littlefs
cannot store or that is unsafe on some host, too many entries, too deep a tree.
Reading treats the image as untrusted input (it may be a dump from a device in
the field): names that a genuine littlefs cannot produce (``..``, ``/``, NUL)
are refused, sizes are checked against the filesystem's capacity before data
is read, the walk is bounded in entries and depth, and extraction writes only
below the destination folder, never through a symlink, with owner-only
permissions (device filesystems hold credential stores and factory records).

The littlefs C code inside littlefs-python is built with assertions enabled,
so a sufficiently malformed image may abort the process instead of raising;
read images from unknown sources in a separate process.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from littlefs import LittleFS, LittleFSError, UserContext

from .boards import BoardConfig, Filesystem
from .errors import SbdError

# VfsLfs2's defaults (extmod/vfs_lfs.c: readsize=32, progsize=32, lookahead=32;
# extmod/vfs_lfsx.c: cache_size = 4 * max(read, prog), block_cycles = 100).  The
# program size comes from the board config (Filesystem.prog_size).
LFS_READ_SIZE = 32
LFS_LOOKAHEAD_SIZE = 32
LFS_BLOCK_CYCLES = 100
LFS_NAME_MAX = 255  # LFS2_NAME_MAX, stored in the superblock; a larger one fails to mount
LFS_DISK_VERSION = 0x0002_0000  # littlefs on-disk 2.0: readable by every littlefs 2.x
# MicroPython's mtime attribute (extmod/vfs_lfs.c LFS_ATTR_MTIME): 64-bit little-endian
# nanoseconds since 1970-01-01.
MTIME_ATTR = 1

MAX_ENTRIES = 4096  # files and folders in one image, both ways
MAX_DEPTH = 16  # folder nesting below the root
MAX_PATH_BYTES = 1024  # a whole path, UTF-8
# Host clutter that has no business on a board.
DEFAULT_EXCLUDE: tuple[str, ...] = ("__pycache__", ".git", ".hg", ".svn", ".DS_Store", "Thumbs.db")

Geometry = BoardConfig | Filesystem


class ImageError(SbdError):
    """A filesystem image cannot be built, or an image is malformed or unsafe."""


@dataclass(frozen=True)
class Entry:
    """One file or folder in an image; ``path`` is relative, '/'-separated."""

    path: str
    size: int
    is_dir: bool


@dataclass(frozen=True)
class Usage:
    """Space in an image, in bytes (whole blocks, as littlefs counts them)."""

    total: int
    used: int

    @property
    def free(self) -> int:
        return self.total - self.used


def _fs(board: Geometry) -> Filesystem:
    return board.filesystem if isinstance(board, BoardConfig) else board


def _what(board: Geometry) -> str:
    if isinstance(board, BoardConfig):
        return f"{board.name}'s filesystem"
    return "the filesystem"


def _geometry(board: Geometry) -> str:
    fs = _fs(board)
    return f"block size {fs.block_size}, {fs.block_count} blocks, {fs.size} bytes, program size {fs.prog_size}"


def _new_lfs(buf: bytearray, fs: Filesystem, *, block_count: int | None = None, for_writing: bool = False) -> LittleFS:
    # Writing pins the on-disk version to 2.0; reading accepts any 2.x (a board with a newer
    # littlefs upgrades the volume to 2.1 on its first write).
    ctx = UserContext(buffer=buf)
    return LittleFS(
        ctx,
        mount=False,  # LittleFS(mount=True) formats an image it cannot mount: never wanted here
        block_size=fs.block_size,
        block_count=fs.block_count if block_count is None else block_count,
        read_size=LFS_READ_SIZE,
        prog_size=fs.prog_size,
        cache_size=4 * max(LFS_READ_SIZE, fs.prog_size),
        lookahead_size=LFS_LOOKAHEAD_SIZE,
        block_cycles=LFS_BLOCK_CYCLES,
        name_max=LFS_NAME_MAX,
        disk_version=LFS_DISK_VERSION if for_writing else 0,  # 0: the newest littlefs knows
    )


def _check_geometry(fs: Filesystem) -> None:
    # littlefs asserts (and so aborts the process) unless the cache divides the block and
    # the read and program sizes divide the cache.
    cache = 4 * max(LFS_READ_SIZE, fs.prog_size)
    if (
        fs.block_size <= 0
        or fs.size <= 0
        or fs.size % fs.block_size
        or fs.block_count < 2
        or fs.prog_size <= 0
        or cache % fs.prog_size
        or fs.block_size % cache
    ):
        raise ImageError(
            f"unusable filesystem geometry: size {fs.size}, block size {fs.block_size}, program size {fs.prog_size}"
        )


# --------------------------------------------------------------------------- names


def _check_component(name: str, where: str) -> bytes:
    """Validate one path component for the image; return it UTF-8 encoded."""
    if name in ("", ".", ".."):
        raise ImageError(f"{where}: {name!r} is not a usable file name")
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        raise ImageError(f"{where}: the name is not valid UTF-8 (rename it)") from None
    if len(raw) > LFS_NAME_MAX:
        raise ImageError(f"{where}: the name is {len(raw)} bytes; littlefs allows at most {LFS_NAME_MAX}")
    bad = [c for c in name if c in "/\\" or ord(c) < 0x20 or ord(c) == 0x7F]
    if bad:
        raise ImageError(f"{where}: the name contains {bad[0]!r}, which is unsafe in a file name")
    return raw


def _split_image_path(path: str) -> list[str]:
    """Split a '/'-separated path given to build_files() into validated parts."""
    if "\\" in path:
        raise ImageError(f"{path}: use '/' to separate folders in image paths")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise ImageError(f"{path!r}: empty path")
    for p in parts:
        _check_component(p, path)
    if len(parts) > MAX_DEPTH + 1:
        raise ImageError(f"{path}: nested deeper than {MAX_DEPTH} folders")
    if len("/".join(parts).encode("utf-8")) > MAX_PATH_BYTES:
        raise ImageError(f"{path}: the path is longer than {MAX_PATH_BYTES} bytes")
    return parts


# --------------------------------------------------------------------------- building


def format_image(board: Geometry) -> bytes:
    """An empty, formatted littlefs2 volume with the board's geometry."""
    return build_files({}, board)


def build_files(
    files: Mapping[str, bytes],
    board: Geometry,
    *,
    dirs: Iterable[str] = (),
    mtime: int | None = None,
    min_free: int = 0,
    max_entries: int = MAX_ENTRIES,
) -> bytes:
    """Build an image holding ``files`` (image path -> content) and the folders ``dirs``.

    Paths are '/'-separated and relative to the root; parent folders are made
    as needed.  ``mtime`` (Unix seconds) is stored as MicroPython's mtime
    attribute on every file; without it files carry none (``os.stat`` on the
    board reports 0).  The build fails unless at least ``min_free`` bytes stay
    free, so an app that writes files at run time can be guaranteed room.
    The result depends only on the arguments: the same input gives the same
    bytes.
    """
    fs = _fs(board)
    _check_geometry(fs)
    # Validate every name and count the entries before writing anything.
    all_dirs: set[tuple[str, ...]] = set()
    plan: list[tuple[tuple[str, ...], bytes]] = []
    for d in dirs:
        parts = _split_image_path(d)
        for i in range(1, len(parts) + 1):
            all_dirs.add(tuple(parts[:i]))
    total = 0
    for path in sorted(files):
        data = files[path]
        parts = _split_image_path(path)
        for i in range(1, len(parts)):
            all_dirs.add(tuple(parts[:i]))
        if len(data) > fs.size:
            raise ImageError(f"{path} ({len(data)} bytes) does not fit: {_what(board)} holds {fs.size} bytes in all")
        total += len(data)
        if total > fs.size:
            raise ImageError(
                f"{path} ({len(data)} bytes) does not fit: with the files before it the content is "
                f"{total} bytes, more than the {fs.size} bytes of {_what(board)}"
            )
        plan.append((tuple(parts), bytes(data)))
    file_keys = {p for p, _ in plan}
    clash = sorted(file_keys & all_dirs)
    if clash:
        raise ImageError(f"{'/'.join(clash[0])}: used both as a file and as a folder")
    if len(plan) != len(file_keys):
        raise ImageError("the same file path is given twice")
    if len(all_dirs) + len(plan) > max_entries:
        raise ImageError(f"{len(all_dirs) + len(plan)} files and folders; an image holds at most {max_entries}")
    if mtime is not None and not 0 <= mtime < 2**63 // 10**9:
        raise ImageError(f"mtime {mtime} is out of range")

    buf = bytearray(b"\xff" * fs.size)  # erased flash
    lfs = _new_lfs(buf, fs, for_writing=True)
    try:
        lfs.format()
        lfs.mount()
    except LittleFSError as e:
        raise ImageError(f"cannot format an image with {_geometry(board)}: {e}") from e

    def free_bytes() -> int:
        return (fs.block_count - lfs.used_block_count) * fs.block_size

    for dparts in sorted(all_dirs, key=lambda t: (len(t), t)):
        name = "/".join(dparts)
        try:
            lfs.mkdir(name)
        except LittleFSError as e:
            if e.code == LittleFSError.Error.LFS_ERR_NOSPC:
                raise ImageError(f"folder {name} does not fit: {free_bytes()} bytes free in {_what(board)}") from e
            raise ImageError(f"folder {name}: littlefs error {e}") from e
    stamp = None if mtime is None else (mtime * 10**9).to_bytes(8, "little")
    for fparts, data in plan:
        name = "/".join(fparts)
        free = free_bytes()
        try:
            with lfs.open(name, "wb") as f:
                f.write(data)
            if stamp is not None:
                lfs.setattr(name, MTIME_ATTR, stamp)
        except LittleFSError as e:
            if e.code == LittleFSError.Error.LFS_ERR_NOSPC:
                raise ImageError(
                    f"{name} ({len(data)} bytes) does not fit: {free} bytes were free in {_what(board)} "
                    f"({fs.size} bytes) after the files before it, and littlefs also needs room for "
                    f"metadata; remove files or leave out large ones"
                ) from e
            raise ImageError(f"{name}: littlefs error {e}") from e
    if free_bytes() < min_free:
        raise ImageError(f"only {free_bytes()} bytes stay free in {_what(board)}, fewer than the {min_free} required")
    lfs.unmount()
    return bytes(buf)


def collect_tree(
    src_dir: str | os.PathLike[str],
    *,
    exclude: Iterable[str] = DEFAULT_EXCLUDE,
    max_entries: int = MAX_ENTRIES,
    max_bytes: int | None = None,
) -> tuple[dict[str, bytes], list[str]]:
    """Read a host folder into (files, folders) for build_files().

    Symlinks are followed only when they stay inside ``src_dir``; special
    files (FIFOs, devices, sockets) are refused; names matching an ``exclude``
    pattern (fnmatch, on the name alone) are skipped with everything below
    them.  ``max_bytes`` stops reading as soon as the content exceeds it.
    """
    root = Path(src_dir)
    try:
        root_real = os.path.realpath(root, strict=True)
    except OSError as e:
        raise ImageError(f"{root}: cannot read the source folder ({e.strerror or e})") from e
    if not os.path.isdir(root_real):
        raise ImageError(f"{root}: not a folder")
    patterns = tuple(exclude)
    files: dict[str, bytes] = {}
    folders: list[str] = []
    total = 0
    count = 0

    def inside(real: str) -> bool:
        return os.path.commonpath([root_real, real]) == root_real

    def walk(dir_real: str, rel: PurePosixPath, depth: int, ancestors: frozenset[str]) -> None:
        nonlocal total, count
        try:
            with os.scandir(dir_real) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            raise ImageError(f"{root / rel}: cannot list the folder ({e.strerror or e})") from e
        for ent in entries:
            host_path = root / rel / ent.name
            if any(fnmatch.fnmatchcase(ent.name, p) for p in patterns):
                continue
            _check_component(ent.name, str(host_path))
            child = rel / ent.name
            real = os.path.realpath(ent.path)
            if ent.is_symlink():
                if not inside(real):
                    raise ImageError(
                        f"{host_path}: symlink to {os.readlink(ent.path)!r} leads outside the source "
                        f"folder {root}; copy the file in instead"
                    )
                if not os.path.exists(real):
                    raise ImageError(f"{host_path}: dangling symlink")
            try:
                st = os.stat(real)
            except OSError as e:
                raise ImageError(f"{host_path}: cannot read ({e.strerror or e})") from e
            count += 1
            if count > max_entries:
                raise ImageError(f"{root}: more than {max_entries} files and folders; an image holds fewer")
            if len(str(child).encode("utf-8")) > MAX_PATH_BYTES:
                raise ImageError(f"{host_path}: the path is longer than {MAX_PATH_BYTES} bytes")
            if stat.S_ISDIR(st.st_mode):
                if real in ancestors:
                    raise ImageError(f"{host_path}: symlink loop (points to a folder above it)")
                if depth >= MAX_DEPTH:
                    raise ImageError(f"{host_path}: nested deeper than {MAX_DEPTH} folders")
                folders.append(str(child))
                walk(real, child, depth + 1, ancestors | {real})
            elif stat.S_ISREG(st.st_mode):
                if max_bytes is not None and total + st.st_size > max_bytes:
                    raise ImageError(
                        f"{host_path} ({st.st_size} bytes) does not fit: the files before it take {total} "
                        f"bytes of the {max_bytes} available"
                    )
                try:
                    with open(real, "rb") as f:
                        data = f.read() if max_bytes is None else f.read(max_bytes - total + 1)
                except OSError as e:
                    raise ImageError(f"{host_path}: cannot read ({e.strerror or e})") from e
                total += len(data)
                if max_bytes is not None and total > max_bytes:
                    raise ImageError(f"{host_path} grew while being read and no longer fits")
                files[str(child)] = data
            else:
                raise ImageError(f"{host_path}: not a regular file or folder (FIFO, device or socket)")

    walk(root_real, PurePosixPath(), 0, frozenset({root_real}))
    return files, folders


def build_image(
    src_dir: str | os.PathLike[str],
    board: Geometry,
    *,
    exclude: Iterable[str] = DEFAULT_EXCLUDE,
    mtime: int | None = None,
    min_free: int = 0,
    max_entries: int = MAX_ENTRIES,
) -> bytes:
    """Build the littlefs2 image of ``src_dir`` for the board's filesystem region.

    The folder's content becomes the root of the volume (``src/boot.py`` ->
    ``/boot.py``).  Raises ImageError naming the offending file when something
    does not fit or is unsafe; see collect_tree() and build_files().
    """
    fs = _fs(board)
    _check_geometry(fs)
    files, folders = collect_tree(src_dir, exclude=exclude, max_entries=max_entries, max_bytes=fs.size)
    return build_files(files, board, dirs=folders, mtime=mtime, min_free=min_free, max_entries=max_entries)


# --------------------------------------------------------------------------- reading


def _mount(data: bytes | bytearray | memoryview, board: Geometry) -> LittleFS:
    fs = _fs(board)
    _check_geometry(fs)
    if len(data) != fs.size:
        raise ImageError(f"the image is {len(data)} bytes but {_what(board)} is {fs.size} bytes ({_geometry(board)})")
    lfs = _new_lfs(bytearray(data), fs)
    try:
        lfs.mount()
    except LittleFSError as e:
        # Tell a foreign geometry from a damaged or blank volume.
        probe = _new_lfs(bytearray(data), fs, block_count=0)
        try:
            probe.mount()
            found = probe.fs_stat()
        except LittleFSError:
            raise ImageError(
                f"not a littlefs2 volume with {_geometry(board)} (blank, damaged or another format): {e}"
            ) from e
        raise ImageError(
            f"the littlefs2 volume has {found.block_count} blocks of {found.block_size} bytes but "
            f"{_what(board)} has {fs.block_count}: built for another board?"
        ) from e
    st = lfs.fs_stat()
    if st.disk_version >> 16 != 2 or st.name_max > LFS_NAME_MAX or st.block_count != fs.block_count:
        raise ImageError(
            f"unsupported littlefs volume (disk version {st.disk_version >> 16}.{st.disk_version & 0xFFFF}, "
            f"name_max {st.name_max}, {st.block_count} blocks)"
        )
    return lfs


def _check_image_name(parent: str, name: str) -> None:
    # '/', NUL, '.' and '..' cannot come from a genuine littlefs; refuse them outright.
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ImageError(f"unsafe name {name!r} in folder /{parent} of the image (crafted or corrupt image)")


def _walk(lfs: LittleFS, board: Geometry, max_entries: int) -> list[Entry]:
    fs = _fs(board)
    out: list[Entry] = []
    stack: list[tuple[str, int]] = [("", 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            stats = sorted(lfs.scandir("/" + folder), key=lambda s: s.name)
        except LittleFSError as e:
            raise ImageError(f"folder /{folder} in the image cannot be read: {e}") from e
        except UnicodeError as e:
            raise ImageError(f"folder /{folder} in the image holds a name that is not UTF-8") from e
        subdirs: list[str] = []
        for s in stats:
            _check_image_name(folder, s.name)
            path = f"{folder}/{s.name}" if folder else s.name
            if len(out) >= max_entries:
                raise ImageError(f"the image holds more than {max_entries} files and folders")
            if s.type == 2:
                if depth >= MAX_DEPTH:
                    raise ImageError(f"/{path}: nested deeper than {MAX_DEPTH} folders (crafted image?)")
                out.append(Entry(path, 0, True))
                subdirs.append(path)
            elif s.type == 1:
                if not 0 <= s.size <= fs.size:
                    raise ImageError(f"/{path}: claims {s.size} bytes, more than the whole volume (crafted or corrupt)")
                out.append(Entry(path, s.size, False))
            else:
                raise ImageError(f"/{path}: unknown entry type {s.type}")
        stack.extend((d, depth + 1) for d in reversed(subdirs))
    return out


def list_image(data: bytes | bytearray | memoryview, board: Geometry, *, max_entries: int = MAX_ENTRIES) -> list[Entry]:
    """Every file and folder in the image, parents before children, with file sizes."""
    lfs = _mount(data, board)
    try:
        return _walk(lfs, board, max_entries)
    finally:
        lfs.unmount()


def image_usage(data: bytes | bytearray | memoryview, board: Geometry) -> Usage:
    """Total and used bytes of the volume, as littlefs counts blocks."""
    fs = _fs(board)
    lfs = _mount(data, board)
    try:
        used = lfs.used_block_count
    except LittleFSError as e:
        raise ImageError(f"cannot count used blocks: {e}") from e
    finally:
        lfs.unmount()
    return Usage(total=fs.size, used=used * fs.block_size)


def _read_all(lfs: LittleFS, board: Geometry, max_entries: int) -> tuple[list[Entry], dict[str, bytes]]:
    fs = _fs(board)
    entries = _walk(lfs, board, max_entries)
    files: dict[str, bytes] = {}
    total = 0
    for e in entries:
        if e.is_dir:
            continue
        total += e.size
        if total > fs.size:
            raise ImageError(f"the files in the image claim more bytes than the volume holds (at /{e.path})")
        try:
            with lfs.open(e.path, "rb") as f:
                content = f.read(e.size + 1)
        except LittleFSError as err:
            raise ImageError(f"/{e.path}: cannot be read from the image: {err}") from err
        if len(content) != e.size:
            raise ImageError(f"/{e.path}: read {len(content)} bytes, the directory says {e.size}")
        files[e.path] = bytes(content)
    return entries, files


def read_image(
    data: bytes | bytearray | memoryview, board: Geometry, *, max_entries: int = MAX_ENTRIES
) -> dict[str, bytes]:
    """Every file in the image: relative '/'-separated path -> content."""
    lfs = _mount(data, board)
    try:
        return _read_all(lfs, board, max_entries)[1]
    finally:
        lfs.unmount()


def extract_image(
    data: bytes | bytearray | memoryview,
    board: Geometry,
    dest_dir: str | os.PathLike[str],
    *,
    max_entries: int = MAX_ENTRIES,
) -> list[str]:
    """Write the image's files below ``dest_dir`` (created; must be empty if it exists).

    Returns the relative paths written.  The whole image is read and checked
    before the first byte is written; nothing is written outside ``dest_dir``
    or through a symlink, and files are created exclusively, owner-only.
    """
    lfs = _mount(data, board)
    try:
        entries, files = _read_all(lfs, board, max_entries)
    finally:
        lfs.unmount()
    for e in entries:  # host-safety of every name first, before touching the disk
        for part in e.path.split("/"):
            _check_component(part, f"/{e.path} in the image")
    dest = Path(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        if any(dest.iterdir()):
            raise ImageError(f"{dest}: the destination folder is not empty")
        dest_real = os.path.realpath(dest, strict=True)
    except OSError as err:
        raise ImageError(f"{dest}: cannot use as destination ({err.strerror or err})") from err

    def target(rel: str) -> str:
        t = os.path.join(dest_real, *rel.split("/"))
        parent = os.path.realpath(os.path.dirname(t))
        outside = [p for p in (parent, t) if os.path.commonpath([dest_real, p]) != dest_real]
        if outside:
            raise ImageError(f"/{rel}: would be written outside {dest}; refusing")
        return t

    written: list[str] = []
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        for e in entries:
            t = target(e.path)
            if e.is_dir:
                os.mkdir(t, 0o700)
                if os.path.islink(t) or not os.path.isdir(t):
                    raise ImageError(f"/{e.path}: is not a plain folder after creating it; refusing")
                continue
            fd = os.open(t, flags, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(files[e.path])
            written.append(e.path)
    except FileExistsError as err:
        raise ImageError(
            f"{err.filename}: exists already (two names in the image that this host treats as one?)"
        ) from err
    except OSError as err:
        raise ImageError(f"{err.filename or dest}: cannot write ({err.strerror or err})") from err
    return written


# --------------------------------------------------------------------------- flash


def _check_image_len(image: bytes | bytearray | memoryview, board: BoardConfig) -> None:
    if len(image) != board.filesystem.size:
        raise ImageError(
            f"the filesystem image is {len(image)} bytes; {board.name}'s filesystem region is "
            f"{board.filesystem.size} bytes"
        )


def place_in_flash(flash: bytearray | BinaryIO, board: BoardConfig, image: bytes | bytearray | memoryview) -> None:
    """Write ``image`` into a whole-flash image (a bytearray or an open binary file)
    at the board's filesystem offset.  The flash image must already cover the region."""
    _check_image_len(image, board)
    off, end = board.filesystem.offset, board.filesystem.offset + board.filesystem.size
    if isinstance(flash, bytearray):
        if len(flash) < end:
            raise ImageError(f"the flash image is {len(flash)} bytes; {board.name}'s filesystem ends at {end:#x}")
        flash[off:end] = image
        return
    size = flash.seek(0, os.SEEK_END)
    if size < end:
        raise ImageError(f"the flash image is {size} bytes; {board.name}'s filesystem ends at {end:#x}")
    flash.seek(off)
    flash.write(bytes(image))
    flash.flush()


def image_from_flash(flash: bytes | bytearray | memoryview | BinaryIO, board: BoardConfig) -> bytes:
    """The filesystem region of a whole-flash image (bytes or an open binary file)."""
    off, size = board.filesystem.offset, board.filesystem.size
    if isinstance(flash, (bytes, bytearray, memoryview)):
        region = bytes(flash[off : off + size])
    else:
        flash.seek(off)
        region = flash.read(size)
    if len(region) != size:
        raise ImageError(f"the flash image is too short: {board.name}'s filesystem spans {off:#x}..{off + size:#x}")
    return region
