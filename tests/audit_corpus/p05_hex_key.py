# expect: SBD001
import ubinascii

KEY = "9f3c1a7be24d8605c3f1e9a07b5d2c48e6a1f03b97c2d45e8a0b6f1c3d7e9a25"
HMAC_KEY = ubinascii.unhexlify(KEY)
