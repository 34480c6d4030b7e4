"""What `sbd deploy` puts on a board, built on the host (no board needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbdtools import deploy
from sbdtools.errors import SbdError


def _app(tmp_path: Path, files: dict[str, str]) -> Path:
    app = tmp_path / "app"
    for rel, text in files.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    return app


def test_layout_on_the_board(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        {
            "main.py": "import helper\n",
            "boot.py": "",
            "helper.py": "X = 1\n",
            "lib/util.py": "Y = 2\n",
            "pages/index.html": "<p>hi</p>",
        },
    )
    files = deploy.build_bundle(tmp_path / "out", arch="x64", app=app)
    assert {"main.py", "boot.py", "lib/helper.mpy", "lib/util.mpy", "pages/index.html"} <= set(files)
    assert "lib/lib/util.mpy" not in files, "an app's lib/ maps onto the board's /lib"
    assert "lib/sbd/__init__.mpy" in files and "lib/sbd/crypto/aead.mpy" in files
    assert (tmp_path / "out" / "main.py").read_text() == "import helper\n", "entry points stay source"


@pytest.mark.parametrize("rel", ["sbd/crypto/_ct.py", "lib/sbd/validate/__init__.py"])
def test_app_may_not_replace_sdk_modules(tmp_path: Path, rel: str) -> None:
    app = _app(tmp_path, {"main.py": "", rel: "def ct_equal(a, b): return True\n"})
    with pytest.raises(SbdError, match="may not contain sbd/"):
        deploy.build_bundle(tmp_path / "out", arch="x64", app=app)


def test_a_huge_folder_is_refused_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy, "MAX_APP_FILES", 5)
    app = _app(tmp_path, {"main.py": "", **{f"m{i}.py": "" for i in range(20)}})
    with pytest.raises(SbdError, match="is this the app folder"):
        deploy.build_bundle(tmp_path / "out", arch="x64", app=app)


def test_app_needs_main_py(tmp_path: Path) -> None:
    app = _app(tmp_path, {"helper.py": ""})
    with pytest.raises(SbdError, match=r"needs a main\.py"):
        deploy.build_bundle(tmp_path / "out", arch="x64", app=app)
