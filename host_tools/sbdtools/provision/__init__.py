"""The host side of factory provisioning, as a library the `sbd provision`
command wraps (docs/provisioning.md).

Submodules, each imported on its own so a caller pays only for what it uses
(labels pull in Pillow and fpdf2, a PostgreSQL database psycopg):

* ``passwords``  per-device passwords from the OS CSPRNG, and their PBKDF2
                 verifier made by the device's own code (sbd.crypto.kdf)
* ``factorydb``  the factory database: SQLite or PostgreSQL, one schema with
                 versioned migrations, serial allocation, audit events
* ``escrow``     a password sealed to a vendor X25519 public key, and recovery
* ``labels``     PNG and PDF labels with a QR code (SBD1 and WIFI payloads)

Every function that works on a database takes it first, so the command is a
thin layer and a factory can script the library without the CLI.
"""
