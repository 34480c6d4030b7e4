# expect: none (near misses for SBD001)
# Pinned digests and key ids are public values.
FIRMWARE_SHA256 = "5d41402abc4b2a76b9719d911017c592e3b0c44298fc1c149afbf4c8996fb924"
KEY_ID = "c1a5f0e2b7d94e3a8f6b2c0d9e1a7b35"
SIGNING_KEY_PATH = "/.sbd/keys/root.pub"
EVENT = "auth.password_changed"
