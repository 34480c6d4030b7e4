from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sbdtools.vboard import runner, store


@pytest.fixture(autouse=True)
def sbd_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own board store."""
    home = tmp_path / "home"
    monkeypatch.setenv("SBD_HOME", str(home))
    return home


@pytest.fixture
def make_board() -> Callable[..., store.VBoard]:
    def make(board: str = "pico_w", name: str = "t", **kw: object) -> store.VBoard:
        return store.create(name, board, **kw)  # type: ignore[arg-type]

    return make


def run_ok(vb: store.VBoard, script: str, **kw: object) -> runner.BootResult:
    """Boot, run `script` in place of main.py, and insist it finished cleanly."""
    res = runner.boot(vb, script=script, **kw)  # type: ignore[arg-type]
    assert res.ended == runner.EXIT, f"board {res.ended} (status {res.returncode}):\n{res.output}"
    assert "Traceback" not in res.output, res.output
    return res


def put(vb: store.VBoard, path: str, text: str) -> None:
    """Write a file onto the board's filesystem (through the board itself)."""
    run_ok(vb, f"with open({path!r}, 'w') as f:\n f.write({text!r})")


def app_image(chip: str = "esp32", version: str = "v2", *, hash_appended: bool = True) -> bytes:
    """A valid ESP-IDF app image (esptool's image classes), as the bootloader and set_boot accept."""
    from sbdtools.vboard.image import placeholder_app

    return placeholder_app(chip, version, hash_appended=hash_appended)


def write_app_script(image: bytes, target: str = "esp32.Partition(esp32.Partition.RUNNING).get_next_update()") -> str:
    """Board code that writes `image` into `target` (whole 4 KiB blocks) and set_boot()s it."""
    padded = image + b"\xff" * (-len(image) % 4096)
    return (
        f"import esp32\nnxt = {target}\nnxt.writeblocks(0, bytes.fromhex({padded.hex()!r}))\n"
        "nxt.set_boot()\nprint('NEXT', nxt.info()[4])\n"
    )


def board_processes(vb: store.VBoard) -> list[int]:
    """Pids of processes running this board's flash image (from /proc)."""
    import os

    from sbdtools.vboard import protocol

    want = f"{protocol.ENV_IMAGE}={vb.image}".encode()
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if want in env.split(b"\0"):
                pids.append(int(d))
    return pids
