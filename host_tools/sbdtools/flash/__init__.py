"""Flashing real boards: firmware checks and the allow-list, per-device images,
board detection, and writing through esptool's Python API (ESP32 family) or
the UF2 bootloader / picotool (Pico W, Pico 2 W).  The CLI is `sbd flash`."""
