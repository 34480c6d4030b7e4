# expect: none (near misses for SBD007)
# Downloads an update and installs it only when its Ed25519 signature verifies.
import urequests
from sbd.crypto import ed25519

PUBLIC_KEY = bytes(32)


def update(url):
    body = urequests.get(url).content
    sig = urequests.get(url + ".sig").content
    if not ed25519.verify(PUBLIC_KEY, sig, body):
        raise ValueError("bad signature")
    with open("app.py", "wb") as f:
        f.write(body)
