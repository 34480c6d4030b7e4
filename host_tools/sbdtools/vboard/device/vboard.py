# Virtual board only: `import vboard` lets a test ask the emulated flash how
# many program/erase operations it has done since power-on (to plan power
# cuts).  A real board has no such module; app code must not use it.
_flash = None


def flash_ops():
    return _flash.ops


def cut_at():
    return _flash.cut_at
