# sbd: secure-by-design SDK for MicroPython boards.
# Kept tiny on purpose: importing `sbd` must cost almost no RAM, so each
# module (sbd.crypto, sbd.ota, ...) is imported on its own by the app.
__version__ = "0.1.0"
