# CPython stand-in for MicroPython's `micropython` module.
# const() is identity; the code emitters are no-ops so decorated functions run
# as plain Python (device code must select such paths only after a self-test).


def const(x):
    return x


def native(f):
    return f


# Viper's pointer and machine-word casts, for viper code run as plain Python.
# ptrN(buf) views a buffer as native-endian N-bit words (little-endian on
# every host sbd supports, as on the boards); a store of a value that does
# not fit raises here, so a missing mask in viper code fails loudly on the
# host instead of silently truncating.  uint/int are identities: viper code
# in sbd masks explicitly, so it is correct with 32-bit or 64-bit words.
def ptr8(buf):
    return memoryview(buf).cast("B")


def ptr16(buf):
    return memoryview(buf).cast("B").cast("H")


def ptr32(buf):
    return memoryview(buf).cast("B").cast("I")


def uint(x):
    return x


_VIPER_NAMES = {"ptr8": ptr8, "ptr16": ptr16, "ptr32": ptr32, "uint": uint}


def viper(f):
    # Make the viper-only builtins visible to the module that uses them.
    g = f.__globals__
    for name, fn in _VIPER_NAMES.items():
        g.setdefault(name, fn)
    return f


def asm_thumb(f):  # pragma: no cover - never used on the host
    raise NotImplementedError("asm_thumb has no CPython equivalent")


def opt_level(level=None):
    return 0


def mem_info(verbose=None):
    print("mem: host (CPython) has no fixed heap")


def qstr_info(verbose=None):
    pass


def mem_peak():
    return 0


def mem_current():
    return 0


def heap_lock():
    return 0


def heap_unlock():
    return 0


def kbd_intr(ch):
    pass


def schedule(func, arg):
    # No interrupts on the host: run the deferred call at once.
    func(arg)


def stack_use():
    return 0
