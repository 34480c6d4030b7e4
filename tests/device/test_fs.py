# sbd._fs: the filesystem steps every sbd store takes.
import os

from dtest import eq, scratch_path, true
from sbd import _fs


def test_read_bounded():
    p = scratch_path("small.bin")
    _fs.write_atomic(p, b"x" * 100)
    # A limit far above the heap: MicroPython's read(n) would allocate n bytes.
    eq(_fs.read_bounded(p, 1 << 20), b"x" * 100)
    eq(len(_fs.read_bounded(p, 10)), 11)  # more than the limit: limit + 1 bytes
    eq(_fs.read_bounded(p, 100), b"x" * 100)
    eq(_fs.read_bounded(scratch_path("absent.bin"), 10), None)


def test_write_atomic_replaces_whole():
    p = scratch_path("w.bin")
    _fs.write_atomic(p, b"old")
    _fs.write_atomic(p, b"new content")
    eq(_fs.read_bounded(p, 64), b"new content")
    true("w.bin.tmp" not in os.listdir(scratch_path("")[:-1]), "no temp file left")


def test_makedirs_and_remove_tree():
    root = scratch_path("tree")
    _fs.makedirs(root + "/a/b")
    _fs.write_atomic(root + "/a/b/f", b"1")
    _fs.write_atomic(root + "/a/g", b"2")
    _fs.makedirs(root + "/a/b")  # exists: fine
    _fs.remove_tree(root)
    true("tree" not in os.listdir(scratch_path("")[:-1]), "removed")
    _fs.remove_tree(root)  # absent: fine
