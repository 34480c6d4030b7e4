# sbd.identity.provision: making a factory record (at the factory, once).
#
# Kept apart from sbd.identity so a device in the field, which only loads
# and checks its record, does not hold this code in RAM.  The host imports
# it too, under CPython, to build records for offline images: one
# implementation of the format.
from micropython import const

import sbd.identity as idn
from sbd import board
from sbd import _fs

HOST_ENTROPY_LEN = const(32)
_ROOT_INFO = b"sbd/identity/root-key/v1"


def make_root_key(host_entropy, uid, device_entropy=None):
    """The device root key: HKDF over the device's own RNG output and the
    host's 32 CSPRNG bytes, salted with the board id.  Either source alone
    being weak (the RP2040's ring oscillator) does not make the key weak."""
    from sbd.crypto import random_bytes
    from sbd.crypto.hkdf import hkdf

    if not isinstance(host_entropy, (bytes, bytearray)) or len(host_entropy) != HOST_ENTROPY_LEN:
        raise ValueError("host entropy must be %d bytes" % HOST_ENTROPY_LEN)
    if device_entropy is None:
        device_entropy = random_bytes(32)
    return bytes(hkdf(bytes(device_entropy) + bytes(host_entropy), bytes(uid), _ROOT_INFO, idn.ROOT_KEY_LEN))


def encode(
    root_key, uid, serial, model, support_end, disclosure, pw_salt, pw_iterations, pw_dk, trust_root=None, tls_cert=None
):
    """The bytes of a factory record.  Every field is checked by the same
    schema load() uses (ValueError otherwise), so a record that encodes
    also loads."""
    import json
    from binascii import hexlify

    from sbd.crypto.hmac import hmac_sha256

    def hx(b):
        return hexlify(bytes(b)).decode()

    if len(root_key) != idn.ROOT_KEY_LEN:
        raise ValueError("root key must be %d bytes" % idn.ROOT_KEY_LEN)
    fields = {
        "serial": serial,
        "uid": hx(uid),
        "key": hx(root_key),
        "model": model,
        "support_end": support_end,
        "disclosure": disclosure,
        "pw_salt": hx(pw_salt),
        "pw_iter": pw_iterations,
        "pw_dk": hx(pw_dk),
    }
    if trust_root is not None:
        fields["trust_root"] = hx(trust_root)
    if tls_cert is not None:
        fields["tls_cert"] = hx(tls_cert)
    body = json.dumps(fields).encode()
    if len(body) > idn.MAX_BODY:
        raise ValueError("factory record too large")
    idn.parse_body(body, ValueError)  # load()'s rules, before anything is written
    head = idn.MAGIC + bytes((idn.VERSION, len(body) >> 8, len(body) & 0xFF))
    return head + body + hmac_sha256(idn.mac_key(bytes(root_key), bytes(uid)), head + body)


def write_record(data, replace=False):
    """Store a record atomically (sbd._fs.write_atomic): after a power cut
    the old record or the new one, never a torn one."""
    if idn.is_provisioned() and not replace:
        raise idn.IdentityError("this device already has a factory record (re-provisioning must be asked for)")
    _fs.makedirs(_fs.FACTORY_DIR)
    _fs.write_atomic(idn.record_path(), data)


def provision(
    host_entropy,
    serial,
    model,
    support_end,
    disclosure,
    pw_salt,
    pw_iterations,
    pw_dk,
    trust_root=None,
    tls_cert=None,
    replace=False,
):
    """On the device, at the factory: make the root key here (it never
    leaves the board), write the record, read it back and verify it.
    Returns the loaded Identity.

    Replacing a record first deletes sbd._fs.STATE_DIR: everything there is
    bound to the old root key (the auth counter, a changed password), would
    only read as tampered under the new one, and belongs to the board's
    previous life.  Deleted before the new record is written, so a power cut
    in between leaves the old record working, not a locked-out board."""
    if idn.is_provisioned() and not replace:
        raise idn.IdentityError("this device already has a factory record (re-provisioning must be asked for)")
    uid = board.unique_id()
    key = make_root_key(host_entropy, uid)
    if replace:
        _fs.remove_tree(_fs.STATE_DIR)
    data = encode(key, uid, serial, model, support_end, disclosure, pw_salt, pw_iterations, pw_dk, trust_root, tls_cert)
    write_record(data, replace)
    return idn.load()
