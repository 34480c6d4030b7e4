# The host-to-ROM protocol of the virtual board, in one place.
#
# Imported by the host (sbdtools.vboard.protocol re-exports it, typed) and by
# the ROM on MicroPython (vbrom.py), so the two sides cannot drift apart.
# Plain constants only: this file must run on both CPython and MicroPython.
#
# The host starts `micropython [-i] vbrom.py` with these environment
# variables; the ROM answers through the rtc file (one JSON object a line)
# and, on the pty, through the two boot markers below.

# -- environment variables the host sets ----------------------------------
ENV_IMAGE = "SBD_VB_IMAGE"  # path of the flash image
ENV_FLASH_SIZE = "SBD_VB_FLASH_SIZE"  # its size in bytes
ENV_FAMILY = "SBD_VB_FAMILY"  # "esp32" or "rp2"
ENV_CHIP = "SBD_VB_CHIP"  # "esp32", "esp32s3", "rp2040", "rp2350"
ENV_BOARD = "SBD_VB_BOARD"  # board config name ("pico2_w", ...)
ENV_FS = "SBD_VB_FS"  # "offset:size:progsize" of the filesystem
ENV_PT = "SBD_VB_PT"  # partition table offset (esp32), else 0
ENV_UID = "SBD_VB_UID"  # machine.unique_id(), hex
ENV_CAUSE = "SBD_VB_CAUSE"  # hardware reset cause of this boot (machine.*_RESET)
ENV_FREQ = "SBD_VB_FREQ"  # machine.freq(), Hz
ENV_RESET = "SBD_VB_RESET"  # RESET_HARD or RESET_SOFT
ENV_RUNNING = "SBD_VB_RUNNING"  # after a soft reset: the app partition still running
ENV_MODE = "SBD_VB_MODE"  # one of MODES
ENV_CUT_AT = "SBD_VB_CUT_AT"  # cut power at this flash operation (0: never)
ENV_RTC = "SBD_VB_RTC"  # the ROM's report file
ENV_WDT = "SBD_VB_WDT"  # the watchdog deadline file (<Q ms, CLOCK_MONOTONIC)
ENV_EXEC = "SBD_VB_EXEC"  # the host script (mode "exec")
ENV_PREFIX = "SBD_VB_"

RESET_HARD = "hard"
RESET_SOFT = "soft"

MODE_FRIENDLY = "friendly"  # pty: boot.py, main.py, then the REPL
MODE_RAW = "raw"  # pty after a soft reset in the raw REPL: boot.py, then the REPL
MODE_RUN = "run"  # no REPL: boot.py, main.py
MODE_EXEC = "exec"  # no REPL: boot.py, then the host script
MODES = (MODE_FRIENDLY, MODE_RAW, MODE_RUN, MODE_EXEC)

# -- what the ROM tells the host --------------------------------------------
# On the pty (modes friendly/raw), each on a line of its own:
INIT_MARK = "\x00SBDVB-INIT\x00"  # the firmware's own start-up is over
READY_MARK = "\x00SBDVB-READY\x00"  # boot.py/main.py are done; the unix REPL follows
# Keys of the rtc report.
RTC_RUNNING = "running"  # the app partition the bootloader started (esp32)
RTC_FORMATTED = "formatted"  # 1 when the filesystem was formatted at this boot
RTC_BOOT_OPS = "boot_ops"  # flash operations done by the ROM before boot.py
RTC_END_OPS = "end_ops"  # flash operations at the end of main.py / the script
RTC_UNCAUGHT = "uncaught"  # 1 when the script or main.py ended in an uncaught exception
RTC_HALTED = "halted"  # 1 when the ROM stopped on a corrupt filesystem
