"""Read a littlefs image in a child process (``python -m sbdtools.audit._imgread BOARD``).

The littlefs C code is built with assertions on, so a malformed image can
abort the process: the auditor mounts images here, never in its own process.
Reads the region from stdin, writes ``{"files": {path: base64}}`` or
``{"error": message}`` to stdout.
"""

from __future__ import annotations

import base64
import json
import sys

from .. import boards, fsimage
from ..errors import SbdError


def main() -> None:
    board = boards.load(sys.argv[1])
    data = sys.stdin.buffer.read(board.filesystem.size + 1)
    try:
        if len(data) != board.filesystem.size:
            raise fsimage.ImageError(f"{len(data)} bytes, not {board.name}'s filesystem size")
        files = fsimage.read_image(data, board)
    except SbdError as e:
        json.dump({"error": str(e)}, sys.stdout)
        return
    except Exception as e:  # any failure means "not a readable image"
        json.dump({"error": f"{type(e).__name__}: {e}"}, sys.stdout)
        return
    json.dump({"files": {p: base64.b64encode(c).decode() for p, c in files.items()}}, sys.stdout)


if __name__ == "__main__":
    main()
