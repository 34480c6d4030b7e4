"""Provision a batch of boards from a factory's own script (host Python).

`sbd provision` is the command-line station; a factory that drives its line
from a script calls the same library, sbdtools.station, as here:

    python examples/factory_station/batch.py --db factory.db --labels labels/ \\
        --model "Env 1" --support-end 2031-12-31 --disclosure security@example.com \\
        --vboard b1 --vboard b2                 # or --port /dev/ttyACM0 ... --board pico_w

Each board gets its own root key (made on the board), factory record,
password and label; the database records it without the password.  One
failing board never stops the others; running the batch again finishes or
redoes half-provisioned boards and refuses to replace a finished one (the
library's rules: docs/provisioning.md).  The script's own part: a JSON
report of the batch (never a password: those are only on the labels) and
exit status 1 when any board failed, for the line's controller.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sbdtools import station
from sbdtools.errors import SbdError
from sbdtools.provision import factorydb


def run_batch(
    targets: Sequence[str],
    *,
    db_url: str,
    labels: Path,
    product: station.Product,
    board: str | None = None,
    jobs: int = 4,
    log: bool = True,
) -> list[station.Outcome]:
    """Provision `targets`: virtual board names, or serial ports when `board` is given."""

    def open_link(target: str) -> station.Link:
        if board is None:
            return station.VBoardLink(target)
        return station.serial_link(target, board)

    def progress(target: str, step: str) -> None:
        if log:
            print(f"{target}: {step}", file=sys.stderr)

    opts = station.Options(labels_dir=labels)
    with factorydb.open_db(db_url) as db:
        return station.provision_many(open_link, targets, db, product, opts, jobs=jobs, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--db", required=True, help="factory database: a SQLite path or postgresql://...")
    ap.add_argument("--labels", required=True, type=Path, help="folder for the labels (they hold passwords)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--support-end", required=True, help="YYYY-MM-DD: the last day of security updates")
    ap.add_argument("--disclosure", required=True, help="vulnerability disclosure contact")
    ap.add_argument("--vboard", action="append", default=[], help="a virtual board (repeat)")
    ap.add_argument("--port", action="append", default=[], help="a real board's serial port (repeat)")
    ap.add_argument("--board", help="board type of the --port boards (pico_w, esp32, ...)")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--report", type=Path, help="write the batch report (JSON, no passwords) here")
    a = ap.parse_args(argv)
    if bool(a.vboard) == bool(a.port) or (a.port and not a.board):
        ap.error("give --vboard boards, or --port boards with --board")
    product = station.Product(a.model, a.support_end, a.disclosure)
    try:
        results = run_batch(
            a.vboard or a.port,
            db_url=a.db,
            labels=a.labels,
            product=product,
            board=a.board if a.port else None,
            jobs=a.jobs,
        )
    except SbdError as e:  # the batch itself could not start (bad product, database, ...)
        print(f"batch: {e}", file=sys.stderr)
        return 2
    report = [r.as_dict() for r in results]
    if a.report:
        a.report.write_text(json.dumps(report, indent=1))
    for r in results:
        print(f"{'ok' if r.ok else 'FAILED':7} {r.target}: {r.serial if r.ok else r.error}")
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} of {len(results)} boards provisioned")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
