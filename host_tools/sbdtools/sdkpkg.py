"""The SDK's MicroPython packaging files: sdk/package.json (for `mip install`)
and sdk/manifest.py (for freezing into firmware).

package.json is generated from the files under sdk/sbd so it can never miss
one; tests/host/test_sdk_packaging.py fails when it is stale (regenerate with
`python -m sbdtools.sdkpkg`).
"""

from __future__ import annotations

import json
import sys

from . import __version__
from .deploy import sdk_dir


def package_json() -> str:
    root = sdk_dir()
    files = sorted(str(p.relative_to(root.parent)) for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    # URLs are relative to package.json, which mip resolves against its own location.
    doc = {"urls": [[f, f] for f in files], "version": __version__}
    return json.dumps(doc, indent=1) + "\n"


def main() -> None:
    out = sdk_dir().parent / "package.json"
    out.write_text(package_json())
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
