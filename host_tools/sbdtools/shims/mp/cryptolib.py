# CPython stand-in for MicroPython's `cryptolib`, built on `cryptography`.
# Mirrors the device semantics the SDK relies on: modes 1 (ECB) and 2 (CBC),
# 16/32-byte keys (MicroPython's cryptolib refuses AES-192 keys with
# ValueError("key"), so the shim does too), data a multiple of 16 bytes, CBC chaining across calls,
# and one direction per object (encrypt or decrypt, never both).
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MODE_ECB = 1
MODE_CBC = 2


class aes:
    def __init__(self, key, mode, IV=None):
        key = bytes(key)
        if len(key) not in (16, 32):
            raise ValueError("key")
        if mode == MODE_ECB:
            m = modes.ECB()
        elif mode == MODE_CBC:
            if IV is None or len(IV) != 16:
                raise ValueError("IV")
            m = modes.CBC(bytes(IV))
        else:
            raise ValueError("mode")
        self._cipher = Cipher(algorithms.AES(key), m)
        self._ctx = None
        self._dir = None

    def _run(self, direction, in_buf, out_buf):
        if len(in_buf) % 16:
            raise ValueError("blksize")
        if self._dir is None:
            self._dir = direction
            self._ctx = self._cipher.encryptor() if direction == "e" else self._cipher.decryptor()
        elif self._dir != direction:
            raise OSError("can't encrypt & decrypt")
        res = self._ctx.update(bytes(in_buf))
        if out_buf is None:
            return res
        if len(out_buf) != len(in_buf):
            raise ValueError("output buffer length")
        out_buf[:] = res
        return None

    def encrypt(self, in_buf, out_buf=None):
        return self._run("e", in_buf, out_buf)

    def decrypt(self, in_buf, out_buf=None):
        return self._run("d", in_buf, out_buf)
