# sbd.net.broker: the device's own broker secret.  PBKDF2-HMAC-SHA512 against
# CPython's hashlib (vectors computed there), the $7$ line mosquitto reads,
# and make_secret(): the secret is in sbd.creds, the line hashes exactly it,
# a second call replaces it, and mqtt.device_client logs in with it, over TLS
# only unless told insecure=True.
# Heap: the credential store needs the factory record (sbd.validate): 160K,
# as tests/device/test_creds.py.
# sbd-device: heapsize=160K timeout=600
import os

import fakeboard  # noqa: F401  (installs the stand-in machine before sbd imports it)
from dtest import eq, raises, scratch_path, true
from sbd import _fs, creds
from sbd import identity as idn
from sbd.net import broker, mqtt


def _provisioned():
    _fs.FACTORY_DIR = scratch_path("factory")
    _fs.STATE_DIR = scratch_path("state")
    for p in (idn.record_path(), _fs.STATE_DIR + "/" + creds.STORE_NAME):
        try:
            os.remove(p)
        except OSError:
            pass
    from sbd.identity import provision as prov

    prov.provision(bytes(32), "SBD-42", "Model", "2030-01-31", "sec@x.example", b"\x33" * 16, 1000, bytes(32))
    creds._restart()


def test_pbkdf2_sha512_matches_hashlib():
    # hashlib.pbkdf2_hmac("sha512", b"password", b"salt", 1, 64) (RFC 8018 style)
    eq(
        broker.pbkdf2_sha512(b"password", b"salt", 1).hex(),
        "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252"
        "c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce",
        "1 iteration",
    )


def test_passwd_line_is_mosquittos_format():
    # base64 of hashlib.pbkdf2_hmac("sha512", b"fixed-secret", b"0123456789ab", 101, 64)
    eq(
        broker.passwd_line("DEV-1", b"fixed-secret", b"0123456789ab"),
        "DEV-1:$7$101$MDEyMzQ1Njc4OWFi$6rMq78IXiKlLcuRjGoq8yoXAZk2pDGhMIjP6E9YKJp61MFxb7llA2c09P+fattTChcaxWp610+9S1JKcOb5uSA==",
        "line",
    )
    raises(ValueError, broker.pbkdf2_sha512, b"x" * 129, b"salt", 1)


def test_make_secret_keeps_the_secret_and_gives_only_its_hash():
    _provisioned()
    line = broker.make_secret()
    secret = creds.get(broker.CRED)
    eq(len(secret), 32, "192 bits as 32 url-safe characters")
    for c in secret:
        true(chr(c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", "url-safe character")
    true(secret not in line.encode(), "the plaintext is not in the line")
    user, _, rest = line.partition(":")
    eq(user, "SBD-42", "the user name is the serial")
    parts = rest.split("$")
    eq(parts[:3], ["", "7", "101"], "$7$, 101 iterations")
    from binascii import a2b_base64

    salt = a2b_base64(parts[3])
    eq(len(salt), 12, "salt")
    eq(line, broker.passwd_line("SBD-42", secret, salt), "the line hashes the stored secret")
    # a second call replaces the secret (a re-provisioned board) with a new salt
    line2 = broker.make_secret()
    true(creds.get(broker.CRED) != secret, "new secret")
    true(line2 != line, "new line")
    eq(creds.names(), [broker.CRED], "one entry")


class NoTls:
    """Stands for a Tls (these checks never reach the network)."""

    verify = True


def test_device_client_logs_in_with_the_stored_secret():
    _provisioned()
    broker.make_secret()
    c = mqtt.device_client("broker.example", 8883, tls=NoTls())
    eq(c.user, b"SBD-42", "user")
    eq(c.password, creds.get(broker.CRED), "password from sbd.creds")
    eq(mqtt.MqttSink(c).topic, b"sbd/SBD-42/events", "topic")
    true(creds.get(broker.CRED) not in repr(c).encode(), "the secret is not in the client's repr")


def test_device_client_without_a_secret_fails_closed():
    _provisioned()
    raises(creds.NotFound, mqtt.device_client, "broker.example", tls=NoTls())


def test_device_client_refuses_plain_tcp_unless_told_loudly():
    # Review finding 4: the device's broker secret never goes out unencrypted
    # by default; insecure=True (a test broker) is the only way, and loud.
    _provisioned()
    broker.make_secret()
    e = raises(ValueError, mqtt.device_client, "broker.example")
    true(creds.get(broker.CRED) not in str(e).encode(), "no echo of the secret")
    raises(ValueError, mqtt.device_client, "broker.example", 1883, None, insecure=1)
    c = mqtt.device_client("broker.example", 1883, insecure=True)
    eq((c.tls, c.insecure), (None, True), "the explicit way out")
