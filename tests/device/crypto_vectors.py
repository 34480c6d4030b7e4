# Reader for the line-oriented vector files in tests/device/data (made by
# tests/host/make_crypto_vectors.py): yields (tcId, result, fields...) with hex decoded and
# numbers as ints.  One line at a time, so a 64 KiB heap is enough.  A field
# stored as "#<hex>" (longer than 1 KiB) comes back as Digest(<sha256>).
import hashlib

from dtest import data_path


class Digest:
    """Stands for a long expected value by its SHA-256; == compares digests."""

    def __init__(self, sha):
        self.sha = sha

    def __eq__(self, other):
        return hashlib.sha256(other).digest() == self.sha

    def __repr__(self):
        return "Digest(%s)" % self.sha.hex()


def cases(name, kinds):
    """kinds: one letter per field after tcId/result, "h" hex, "i" int."""
    with open(data_path(name)) as f:
        for line in f:
            if not line or line[0] == "#":
                continue
            parts = line.split()
            row = [int(parts[0]), parts[1]]
            for k, v in zip(kinds, parts[2:]):
                if k == "i":
                    row.append(int(v))
                elif v[0] == "#":
                    row.append(Digest(bytes.fromhex(v[1:])))
                else:
                    row.append(b"" if v == "-" else bytes.fromhex(v))
            yield row
