# Virtual board only: `import vboard` lets a test ask the emulated flash how
# many program/erase operations it has done since power-on (to plan power
# cuts).  A real board has no such module; app code must not use it.
_flash = None
_rtc = None
_pty = False  # served on a pty: the ROM owes the host its INIT marker


def flash_ops():
    return _flash.ops


def cut_at():
    return _flash.cut_at


def cut_after(n):
    """Cut power at the n-th flash program or erase from now (n >= 1): the
    running code's own way to ask for what `exec --cut-at` asks at power-on,
    for a test that must cut inside one step of a longer session."""
    if n < 1:
        raise ValueError("n must be >= 1")
    _flash.cut_at = _flash.ops + n


def _init_done():
    # Tell the pty server the firmware's own start-up is over: from here a
    # Ctrl-C reaches Python code, as on a board (where it can never
    # interrupt the firmware's C start-up).
    global _pty
    if _pty:
        _pty = False
        import vb_proto

        print(vb_proto.INIT_MARK)


def _halted():
    # The ROM stops on a corrupt filesystem (ESP32's inisetup): tell the
    # host, and let a Ctrl-C interrupt the halt loop, as on the port.
    import vb_proto

    _rtc.write('{"%s": 1}\n' % vb_proto.RTC_HALTED)
    _init_done()
