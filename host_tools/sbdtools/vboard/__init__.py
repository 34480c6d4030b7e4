"""The virtual board: real MicroPython (unix port) booting from a flash image
laid out like an ESP32 or a Pico, served on a pty that real mpremote drives.
See docs/virtual-board.md for what it reproduces and what it does not."""
