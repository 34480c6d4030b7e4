# Virtual board "ROM": what the firmware does before boot.py, for the real
# MicroPython unix port standing in for a board.  Run by the host as
#     micropython -X heapsize=<board heap> [-i] vbrom.py
# with its settings in environment variables (vb_proto.py declares them).  It
#   1. opens the board's flash image (before the host filesystem goes away),
#   2. on ESP32 images runs the bootloader's app selection (otadata,
#      rollback, image verification),
#   3. installs what the port has and the unix port lacks: `machine`,
#      `esp32` (+ the frozen `flashbdev`, `inisetup`) or `rp2`, sys.platform,
#      os.uname(), io.BufferedWriter,
#   4. unmounts the host filesystem and mounts the board's as the port's
#      frozen _boot.py does: ESP32 formats only a partition whose block 0 is
#      erased and halts on a corrupt one; rp2 formats whatever fails to mount,
#   5. runs boot.py, then main.py (friendly REPL) or the host's script (exec),
#   6. in -i mode hands over to the unix port's own REPL, which the host
#      serves on a pty.
import sys

# os.uname().machine: MICROPY_HW_BOARD_NAME " with " MICROPY_HW_MCU_NAME of
# the port's board files (ESP32_GENERIC's OTA variant, ESP32_GENERIC_S3,
# RPI_PICO_W, RPI_PICO2_W).
_MACHINE = {
    "esp32": "Generic ESP32 module with OTA with ESP32",
    "esp32s3": "Generic ESP32S3 module with ESP32-S3",
    "pico_w": "Raspberry Pi Pico W with RP2040",
    "pico2_w": "Raspberry Pi Pico 2 W with RP2350",
}
_MCU = {"esp32": "ESP32", "esp32s3": "ESP32-S3", "rp2040": "RP2040", "rp2350": "RP2350"}


def _vb_port_modules(family, board, chip):
    # sys, os and io as the port has them: the unix port's own, plus
    # sys.platform, os.uname() and io.BufferedWriter.  Installed in
    # sys.modules, which `import` consults first.
    import io
    import os

    class _Mod:
        pass

    def wrap(mod, unix_only=()):
        # unix_only: what the unix port has and the boards do not (so code
        # that relies on it fails here too).
        m = _Mod()
        for k in dir(mod):
            if not k.startswith("__") and k not in unix_only:
                setattr(m, k, getattr(mod, k))
        return m

    ver = sys.version.split("MicroPython ")[-1]
    v = sys.implementation.version
    release = "%d.%d.%d" % v[:3] + ("-" + v[3] if len(v) > 3 and v[3] else "")
    from collections import namedtuple

    uname = namedtuple("uname_result", ("sysname", "nodename", "release", "version", "machine"))(
        family, family, release, ver, _MACHINE.get(board) or ("%s with %s" % (board, _MCU.get(chip, chip)))
    )
    s = wrap(sys, ("executable", "ps1", "ps2"))
    s.platform = family
    s.argv = []  # the vboard ROM's own path is no business of the app's
    o = wrap(os, ("getenv", "putenv", "unsetenv", "system", "errno", "VfsPosix"))
    o.uname = lambda: uname
    i = wrap(io)
    i.BufferedWriter = BufferedWriter
    sys.modules["sys"] = s
    sys.modules["os"] = o
    sys.modules["io"] = i


class BufferedWriter:
    # py/modio.c bufwriter: collect writes in a buffer of `size` bytes and
    # write the whole buffer to the stream each time it fills; flush()
    # writes what is left.
    def __init__(self, stream, size):
        self._s = stream
        self._buf = bytearray(size)
        self._n = 0

    def _out(self, data):
        mv = memoryview(data)
        while len(mv):
            n = self._s.write(mv)
            if n is None:
                n = len(mv)
            mv = mv[n:]

    def write(self, data):
        mv = memoryview(data)
        total = len(mv)
        buf = self._buf
        while len(mv):
            rem = len(buf) - self._n
            if len(mv) < rem:
                buf[self._n : self._n + len(mv)] = mv
                self._n += len(mv)
                return total
            buf[self._n :] = mv[:rem]
            mv = mv[rem:]
            self._out(buf)
            self._n = 0
        return total

    def flush(self):
        if self._n:
            self._out(memoryview(self._buf)[: self._n])
            self._n = 0


def _vb_boot():
    import os

    import vb_flash
    import vb_proto as P

    env = os.getenv
    image = env(P.ENV_IMAGE)
    family = env(P.ENV_FAMILY)
    chip = env(P.ENV_CHIP)
    board = env(P.ENV_BOARD)
    mode = env(P.ENV_MODE) or P.MODE_FRIENDLY
    soft = env(P.ENV_RESET) == P.RESET_SOFT
    # offset:size:progsize -- rp2's _boot.py mounts with progsize=256, esp32 uses the default 32.
    fs_off, fs_size, prog = [int(x) for x in env(P.ENV_FS).split(":")]
    flash = vb_flash.Flash(image, int(env(P.ENV_FLASH_SIZE)), int(env(P.ENV_CUT_AT) or "0"))
    rtc = open(env(P.ENV_RTC), "w")
    wdt = open(env(P.ENV_WDT), "r+b")
    exec_src = None
    if mode == P.MODE_EXEC:
        with open(env(P.ENV_EXEC)) as f:
            exec_src = f.read()

    import vb_machine

    cause = int(env(P.ENV_CAUSE))
    if soft and family == "esp32":
        # ports/esp32/modmachine.c: machine_deinit() sets is_soft_reset, so
        # after a soft reboot reset_cause() is SOFT_RESET.  (rp2 keeps
        # reporting the hardware's cause.)
        cause = vb_machine.SOFT_RESET
    vb_machine._setup(bytes.fromhex(env(P.ENV_UID)), cause, int(env(P.ENV_FREQ)), wdt, family, chip)
    sys.modules["machine"] = vb_machine

    import vboard

    vboard._flash = flash
    vboard._rtc = rtc
    sys.modules["vboard"] = vboard

    running = ""
    if family == "esp32":
        import vb_esp32
        import vb_espimage  # noqa: F401 -- loaded now: the host filesystem goes away below
        import vb_nvs  # noqa: F401

        pt = int(env(P.ENV_PT))
        if soft:
            running = env(P.ENV_RUNNING)
            vb_esp32.resume(flash, pt, running, chip)
        else:
            running = vb_esp32.boot_select(flash, pt, chip)
        sys.modules["esp32"] = vb_esp32
        import vb_flashbdev

        sys.modules["flashbdev"] = vb_flashbdev
        import vb_inisetup

        sys.modules["inisetup"] = vb_inisetup
    else:
        import vb_rp2

        vb_rp2._setup(flash, fs_off, fs_size)
        sys.modules["rp2"] = vb_rp2
    rtc.write('{"%s": "%s", "%s": %d}\n' % (P.RTC_RUNNING, running, P.RTC_BOOT_OPS, flash.ops))
    _vb_port_modules(family, board, chip)
    import vfs

    vfs.umount("/")
    return mode, rtc, exec_src, flash, family, prog


def _vb_mount(family, prog, rtc, flash):
    # The port's frozen _boot.py; runs at every (soft) boot, as on the ports.
    import os

    import vb_proto as P
    import vfs

    formatted = 0
    sys.path[:] = ["", ".frozen", "/lib"]
    if family == "esp32":
        # ports/esp32/modules/_boot.py
        from flashbdev import bdev

        try:
            if bdev:
                vfs.mount(bdev, "/")
        except OSError:
            import inisetup

            inisetup.setup()  # formats a blank partition; halts on a corrupt one
            formatted = 1
    else:
        # ports/rp2/modules/_boot.py: any failure to mount formats.
        import rp2

        bdev = rp2.Flash()
        try:
            fs = vfs.VfsLfs2(bdev, progsize=prog)
        except:  # noqa: E722 -- as the port's _boot.py
            vfs.VfsLfs2.mkfs(bdev, progsize=prog)
            fs = vfs.VfsLfs2(bdev, progsize=prog)
            formatted = 1
        vfs.mount(fs, "/")
    os.chdir("/")
    rtc.write('{"%s": %d, "%s": %d}\n' % (P.RTC_FORMATTED, formatted, P.RTC_BOOT_OPS, flash.ops))


def _vb_run(rtc, path=None, src=None):
    # Runs boot.py, main.py or the host's script in __main__'s globals, as
    # pyexec does: the REPL afterwards sees what main.py defined.  Everything
    # is inside the try: a Ctrl-C may land anywhere once boot.py may run (even
    # in `import os`, which looks for an os.py on the filesystem first).
    try:
        import os

        g = globals()
        if src is not None:
            exec(src, g)
        else:
            try:
                os.stat(path)
            except OSError:
                return
            execfile(path, g)
    except SystemExit:
        # On a board, SystemExit out of boot.py/main.py is a soft reset.
        import machine

        machine.soft_reset()
    except BaseException as e:
        sys.print_exception(e)
        if src is not None or path == "main.py":
            import vb_proto

            _vb_quiet(rtc.write, '{"%s": 1}\n' % vb_proto.RTC_UNCAUGHT)


def _vb_quiet(fn, *args):
    # ROM bookkeeping after start-up: a late Ctrl-C meant for main.py must
    # not break it (the firmware's C code cannot be interrupted either).
    for _ in range(3):
        try:
            return fn(*args)
        except KeyboardInterrupt:
            pass


def _vb_main():
    import vb_proto as P

    mode, rtc, exec_src, flash, family, prog = _vb_boot()
    import vboard

    pty = mode in (P.MODE_FRIENDLY, P.MODE_RAW)
    vboard._pty = pty
    try:
        _vb_mount(family, prog, rtc, flash)
    except BaseException as e:  # a Ctrl-C in the halt loop, as pyexec_frozen_module reports it
        sys.print_exception(e)
    vboard._init_done()
    _vb_run(rtc, "boot.py")
    if mode == P.MODE_EXEC:
        _vb_run(rtc, src=exec_src)
    elif mode in (P.MODE_FRIENDLY, P.MODE_RUN):
        _vb_run(rtc, "main.py")
    _vb_quiet(rtc.write, '{"%s": %d}\n' % (P.RTC_END_OPS, flash.ops))
    _vb_quiet(rtc.close)
    if pty:
        print(P.READY_MARK)


_vb_main()
del _vb_boot, _vb_mount, _vb_run, _vb_quiet, _vb_main, _vb_port_modules, _MACHINE, _MCU, BufferedWriter
