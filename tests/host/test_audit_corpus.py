"""`sbd audit` on its corpus: every case finds exactly what it should (source
form), compiled .mpy forms find nothing the source form should not, and the
files inside littlefs and UF2 images are audited like a folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from audit_cases import Case, cases

from sbdtools import boards, fsimage
from sbdtools.audit import RULES, audit
from sbdtools.flash import uf2
from sbdtools.mpytools import require_tool

CASES = cases()


def _rules(path: Path) -> set[str]:
    return {f.rule for f in audit(path).findings}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(case: Case) -> None:
    assert _rules(case.path) == case.today


def test_every_rule_has_positive_and_negative_cases() -> None:
    for rule in RULES:
        if rule == "SBD000":
            continue
        pos = [c for c in CASES if rule in c.expected and rule in c.today]
        neg = [c for c in CASES if rule in c.near and rule not in c.today]
        assert len(pos) >= 3, f"{rule}: {len(pos)} true-positive cases"
        assert len(neg) >= 2, f"{rule}: {len(neg)} true-negative (near miss) cases"


def _compile(src: Path, out: Path) -> Path:
    subprocess.run([require_tool("mpy-cross"), "-o", str(out), str(src)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("case", [c for c in CASES if c.path.suffix == ".py"], ids=lambda c: c.name)
def test_compiled_form_never_adds_a_finding(case: Case, tmp_path: Path) -> None:
    mpy = _compile(case.path, tmp_path / (case.path.stem + ".mpy"))
    assert _rules(mpy) <= case.expected


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("p03_aws_key.py", "SBD001"),
        ("p04_pem_key.py", "SBD001"),
        ("p07_webrepl_default.py", "SBD002"),
        ("p10_boot_webrepl.py", "SBD003"),
        ("p14_cert_none.py", "SBD004"),
        ("h04_mqtt_ssl_params.py", "SBD004"),
        ("p24_mip_install.py", "SBD007"),
    ],
)
def test_compiled_form_finds(name: str, rule: str, tmp_path: Path) -> None:
    mpy = _compile(CORPUS_DIR / name, tmp_path / "m.mpy")
    assert rule in _rules(mpy)


CORPUS_DIR = CASES[0].path.parent


def _app(tmp_path: Path, case: str) -> Path:
    src = tmp_path / "app"
    shutil.copytree(CORPUS_DIR / case, src, ignore=shutil.ignore_patterns("EXPECT"))
    shutil.copy(CORPUS_DIR / "p10_boot_webrepl.py", src / "boot.py")
    return src


@pytest.mark.parametrize("board", ["pico_w", "esp32"])
def test_littlefs_image_is_audited_like_a_folder(board: str, tmp_path: Path) -> None:
    b = boards.load(board)
    img = tmp_path / "dev.img"
    img.write_bytes(fsimage.build_image(_app(tmp_path, "p25_app_no_identity"), b))
    found = {(f.rule, f.path) for f in audit(img).findings}
    assert found == {("SBD003", "dev.img!/boot.py"), ("SBD008", "dev.img!/main.py")}


def test_uf2_and_whole_flash_bin_filesystems_are_audited(tmp_path: Path) -> None:
    b = boards.load("pico_w")
    image = fsimage.build_image(_app(tmp_path, "p25_app_no_identity"), b)
    assert b.uf2_family_id is not None
    data = uf2.pack(uf2.chunks(b.flash_base_address + b.filesystem.offset, image), b.uf2_family_id)
    (tmp_path / "dev.uf2").write_bytes(data)
    assert {f.path for f in audit(tmp_path / "dev.uf2").findings} == {"dev.uf2!/boot.py", "dev.uf2!/main.py"}
    e = boards.load("esp32")
    flash = bytearray(b"\xff" * (e.filesystem.offset + e.filesystem.size))
    fsimage.place_in_flash(flash, e, fsimage.build_image(_app(tmp_path / "e", "n13_app_identity"), e))
    (tmp_path / "dev.bin").write_bytes(bytes(flash))
    assert {(f.rule, f.path) for f in audit(tmp_path / "dev.bin").findings} == {("SBD003", "dev.bin!/boot.py")}


def test_an_image_clean_inside_is_clean(tmp_path: Path) -> None:
    b = boards.load("pico_w")
    src = tmp_path / "app"
    shutil.copytree(CORPUS_DIR / "n13_app_identity", src, ignore=shutil.ignore_patterns("EXPECT"))
    (tmp_path / "ok.img").write_bytes(fsimage.build_image(src, b))
    rep = audit(tmp_path / "ok.img")
    assert rep.findings == [] and "ok.img!/main.py" in rep.scanned
