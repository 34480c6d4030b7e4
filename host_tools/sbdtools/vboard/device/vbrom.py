# Virtual board "ROM": what the firmware does before boot.py, for the real
# MicroPython unix port standing in for a board.  Run by the host as
#     micropython -X heapsize=<board heap> [-i] vbrom.py
# with its settings in SBD_VB_* environment variables.  It
#   1. opens the board's flash image (before the host filesystem goes away),
#   2. on ESP32 images runs the bootloader's app selection (otadata, rollback),
#   3. installs the board's `machine` (and `esp32`) modules,
#   4. unmounts the host filesystem and mounts the littlefs2 volume in the
#      image at "/" (formatting a blank or unreadable one, as the ports'
#      _boot.py do, and saying so to the host),
#   5. runs boot.py, then main.py (friendly REPL) or the host's script (exec),
#   6. in -i mode hands over to the unix port's own REPL, which the host
#      serves on a pty.
import sys


def _vb_boot():
    import os

    import vb_flash

    env = os.getenv
    image = env("SBD_VB_IMAGE")
    family = env("SBD_VB_FAMILY")
    mode = env("SBD_VB_MODE") or "friendly"
    # offset:size:progsize -- rp2's _boot.py mounts with progsize=256, esp32 uses the default 32.
    fs_off, fs_size, prog = [int(x) for x in env("SBD_VB_FS").split(":")]
    flash = vb_flash.Flash(image, int(env("SBD_VB_FLASH_SIZE")), int(env("SBD_VB_CUT_AT") or "0"))
    rtc = open(env("SBD_VB_RTC"), "w")
    wdt = open(env("SBD_VB_WDT"), "r+b")
    exec_src = None
    if mode == "exec":
        with open(env("SBD_VB_EXEC")) as f:
            exec_src = f.read()

    import vb_machine

    vb_machine._setup(bytes.fromhex(env("SBD_VB_UID")), int(env("SBD_VB_CAUSE")), int(env("SBD_VB_FREQ")), wdt)
    running = ""
    if family == "esp32":
        import vb_esp32

        pt = int(env("SBD_VB_PT"))
        if env("SBD_VB_RESET") == "soft":
            vb_esp32.resume(flash, pt, env("SBD_VB_RUNNING"))
            running = env("SBD_VB_RUNNING")
        else:
            running = vb_esp32.boot_select(flash, pt)
        sys.modules["esp32"] = vb_esp32
    sys.modules["machine"] = vb_machine

    import vboard

    vboard._flash = flash
    sys.modules["vboard"] = vboard

    import vfs

    bdev = vb_flash.BlockDev(flash, fs_off, fs_size)
    vfs.umount("/")
    formatted = 0
    try:
        vfs.mount(vfs.VfsLfs2(bdev, progsize=prog), "/")
    except OSError:
        vfs.VfsLfs2.mkfs(bdev, progsize=prog)
        vfs.mount(vfs.VfsLfs2(bdev, progsize=prog), "/")
        formatted = 1
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]
    rtc.write('{"running": "%s", "formatted": %d, "boot_ops": %d}\n' % (running, formatted, flash.ops))
    return mode, rtc, exec_src, flash


def _vb_run(path=None, src=None):
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


def _vb_quiet(fn, *args):
    # ROM bookkeeping after start-up: a late Ctrl-C meant for main.py must
    # not break it (the firmware's C code cannot be interrupted either).
    for _ in range(3):
        try:
            return fn(*args)
        except KeyboardInterrupt:
            pass


def _vb_main():
    mode, rtc, exec_src, flash = _vb_boot()
    if mode in ("friendly", "raw"):
        # Tell the pty server the firmware's own start-up is over: from here
        # a Ctrl-C may interrupt boot.py/main.py, as on a board (where it can
        # never interrupt the firmware's C start-up).
        print("\x00SBDVB-INIT\x00")
    _vb_run("boot.py")
    if mode == "exec":
        _vb_run(src=exec_src)
    elif mode in ("friendly", "run"):
        _vb_run("main.py")
    _vb_quiet(rtc.write, '{"end_ops": %d}\n' % flash.ops)
    _vb_quiet(rtc.close)
    if mode in ("friendly", "raw"):
        print("\x00SBDVB-READY\x00")


_vb_main()
del _vb_boot, _vb_run, _vb_quiet, _vb_main
