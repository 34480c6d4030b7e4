# sbd.net.broker: the device's own MQTT broker secret (at the factory, once).
#
# Kept apart from sbd.net.mqtt, like sbd.identity.provision: a device in the
# field only reads its secret (mqtt.device_client), so it does not hold this
# code, nor SHA-512, in RAM.  Rules, in order:
#   1. the secret is drawn on the device (sbd.crypto.random_bytes, 24 bytes,
#      192 bits) and stored in sbd.creds under CRED; it never leaves the
#      board: the station gets only the broker's hash of it;
#   2. the hash is a mosquitto password_file line in mosquitto_passwd's "$7$"
#      form (PBKDF2-HMAC-SHA512, ITERATIONS, a 12-byte salt from the device's
#      RNG), computed here, so the station, its logs, the serial link and the
#      factory database never see the plaintext;
#   3. the user name is the serial of the factory record (no record, no
#      secret: sbd.creds needs it anyway);
#   4. making a secret replaces the old one: a board re-provisioned gets a
#      new secret and the broker's line for it must be replaced too.
from micropython import const

CRED = "mqtt.broker"  # the sbd.creds entry holding the secret
ITERATIONS = const(101)  # mosquitto_passwd's default for $7$ (the secret is random: no stretching needed)
_SECRET_BYTES = const(24)
_SALT_BYTES = const(12)


def _b64(b):
    from binascii import b2a_base64

    return b2a_base64(b).strip().decode()


def pbkdf2_sha512(password, salt, iterations):
    """PBKDF2-HMAC-SHA512 (RFC 8018), one 64-byte block: what $7$ stores."""
    from sbd.crypto.sha512 import sha512

    if len(password) > 128:
        raise ValueError("password longer than a SHA-512 block")
    k = bytearray(128)
    k[: len(password)] = password
    ipad = bytes(b ^ 0x36 for b in k)
    opad = bytes(b ^ 0x5C for b in k)

    def mac(m):
        return sha512(opad + sha512(ipad + m).digest()).digest()

    u = mac(bytes(salt) + b"\x00\x00\x00\x01")
    acc = int.from_bytes(u, "big")
    for _ in range(iterations - 1):
        u = mac(u)
        acc ^= int.from_bytes(u, "big")
    return acc.to_bytes(64, "big")


def passwd_line(user, secret, salt, iterations=ITERATIONS):
    """One mosquitto password_file line: user:$7$iterations$salt$hash."""
    dk = pbkdf2_sha512(secret, salt, iterations)
    return "%s:$7$%d$%s$%s" % (user, iterations, _b64(salt), _b64(dk))


def make_secret():
    """Draw a new broker secret, store it in sbd.creds (replacing any old
    one) and return the broker's password_file line for it (rule 1-4)."""
    from sbd import creds, identity
    from sbd.crypto import random_bytes

    serial = identity.load().serial
    # url-safe base64 of 24 bytes: 32 characters, no padding, no ':'.
    secret = _b64(random_bytes(_SECRET_BYTES)).replace("+", "-").replace("/", "_").encode()
    creds.set(CRED, secret)
    return passwd_line(serial, secret, random_bytes(_SALT_BYTES))
