# Freeze sbd into a MicroPython firmware build: add to your board manifest
#     include("path/to/sbd/sdk/manifest.py")
# Frozen modules run from flash, so their bytecode costs no heap.
metadata(version="0.1.0", description="sbd: secure-by-design SDK for MicroPython boards", license="MIT")

package("sbd")
