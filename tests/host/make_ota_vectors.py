"""Rewrite tests/device/data/ota from tests/host/ota_scenarios.py (python-tuf
makes the repositories, ngclient gives the reference verdicts).

    .venv/bin/python tests/host/make_ota_vectors.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ota_scenarios as sc


def main() -> None:
    if sc.DATA_DIR.exists():
        shutil.rmtree(sc.DATA_DIR)
    sc.DATA_DIR.mkdir(parents=True)
    expect = sc.render(sc.DATA_DIR)
    for name, steps in expect["scenarios"].items():
        print(name, " ".join("ok" if s["ngclient"] is None else s["ngclient"] for s in steps))


if __name__ == "__main__":
    main()
