"""Labels (sbdtools.provision.labels): the QR codes decode back to the same
values with a real decoder (zxing-cpp), escaping included; the PDF page is the
stock's size; text the font cannot print is refused."""

from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sbdtools.provision import labels, passwords
from sbdtools.provision.labels import LabelData, LabelError

NASTY = 'Acme; "Pro": \\T1, v2'  # every character the payload syntax reserves
NASTY_SSID = 'Setup;Net:"x",\\'
MM_TO_PT = 72 / 25.4


def _decode(png: bytes) -> list[str]:
    img = Image.open(io.BytesIO(png))
    return sorted(r.text for r in zxingcpp.read_barcodes(img) if r.format == zxingcpp.BarcodeFormat.QRCode)


def _expect(d: LabelData) -> list[str]:
    out = [labels.sbd1_payload(d.model, d.serial, d.password)]
    if d.wifi_ssid:
        out.append(labels.wifi_payload(d.wifi_ssid, d.wifi_password or d.password, d.wifi_security))
    return sorted(out)


CASES = [
    LabelData("Acme Thermostat T1", "SBD-000042", "k7mp2-xv9ad-3hrte-nq4fw"),
    LabelData("Acme Thermostat T1", "SBD-000042", "k7mp2-xv9ad-3hrte-nq4fw", wifi_ssid="Acme-T1-Setup"),
    LabelData(NASTY, "SBD-000043", "k7mp2-xv9ad-3hrte-nq4fw", wifi_ssid=NASTY_SSID, wifi_password='pa;ss:w,o"rd\\'),
]


@pytest.mark.parametrize("stock", sorted(labels.STOCKS))
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("dpi", [203, 300])
def test_qr_codes_decode_to_the_same_values(stock: str, case: int, dpi: int) -> None:
    d = CASES[case]
    got = _decode(labels.render_png(d, stock, dpi=dpi))
    assert got == _expect(d)
    sbd1 = labels.parse_sbd1(next(t for t in got if t.startswith("SBD1:")))
    assert (sbd1["M"], sbd1["S"], sbd1["P"]) == (d.model, d.serial, d.password)
    if d.wifi_ssid:
        wifi = labels.parse_wifi(next(t for t in got if t.startswith("WIFI:")))
        assert (wifi["T"], wifi["S"], wifi["P"]) == ("WPA", d.wifi_ssid, d.wifi_password or d.password)


def test_zxing_reads_the_wifi_fields_as_a_phone_does() -> None:
    """zxing's own Wi-Fi parsing is what Android cameras use: it must see our SSID and key."""
    d = CASES[2]
    for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(labels.render_png(d, "62mm")))):
        if r.text.startswith("WIFI:"):
            assert r.text == labels.wifi_payload(NASTY_SSID, 'pa;ss:w,o"rd\\')
            break
    else:
        pytest.fail("no WIFI QR on the label")


def test_escaping_follows_the_wifi_rules() -> None:
    assert labels.escape('a\\b;c,d:e"f') == 'a\\\\b\\;c\\,d\\:e\\"f'
    assert labels.wifi_payload("My;Net", "pass:word") == "WIFI:T:WPA;S:My\\;Net;P:pass\\:word;;"
    assert labels.wifi_payload("Open", None, "nopass") == "WIFI:T:nopass;S:Open;;"
    assert labels.wifi_payload("Hid", "12345678", hidden=True) == "WIFI:T:WPA;S:Hid;P:12345678;H:true;;"
    assert labels.sbd1_payload("M", "S-1", "p") == "SBD1:M:M;S:S-1;P:p;;"


_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(model=_text, serial=_text, password=_text)
def test_payloads_round_trip(model: str, serial: str, password: str) -> None:
    got = labels.parse_sbd1(labels.sbd1_payload(model, serial, password))
    assert (got["M"], got["S"], got["P"]) == (model, serial, password)


@settings(max_examples=200, deadline=None)
@given(
    ssid=_text.filter(lambda s: len(s.encode()) <= 32),
    password=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=8, max_size=63),
)
def test_wifi_payloads_round_trip(ssid: str, password: str) -> None:
    got = labels.parse_wifi(labels.wifi_payload(ssid, password))
    assert (got["T"], got["S"], got["P"]) == ("WPA", ssid, password)


def test_unknown_sbd1_fields_are_kept_for_later_versions() -> None:
    assert labels.parse_sbd1("SBD1:M:m;S:s;P:p;X:new\\;field;;")["X"] == "new;field"


@pytest.mark.parametrize(
    "bad",
    [
        "SBD2:M:m;S:s;P:p;;",
        "SBD1:M:m;S:s;;",
        "SBD1:M:m;S:s;P:p;",
        "SBD1:M:m;S:s;P:p\\",
        "SBD1:M:m;M:n;S:s;P:p;;",
        "SBD1:M:m;S:s;P:p;;junk",
        "SBD1:;:x;;",
    ],
)
def test_malformed_payloads_are_refused(bad: str) -> None:
    with pytest.raises(LabelError):
        labels.parse_sbd1(bad)


@pytest.mark.parametrize("stock", sorted(labels.STOCKS))
def test_pdf_page_is_the_stock_size(stock: str) -> None:
    s = labels.STOCKS[stock]
    pdf = labels.render_pdf(CASES[1], stock)
    assert pdf.startswith(b"%PDF-")
    boxes = re.findall(rb"/MediaBox \[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert len(boxes) == 1, "one page"
    x0, y0, w, h = (float(v) for v in boxes[0])
    assert (x0, y0) == (0, 0)
    assert w == pytest.approx(s.width_mm * MM_TO_PT, abs=0.01)
    assert h == pytest.approx(s.height_mm * MM_TO_PT, abs=0.01)


def test_stock_sizes() -> None:
    assert (labels.STOCKS["62mm"].width_mm, labels.STOCKS["29x90"].width_mm, labels.STOCKS["29x90"].height_mm) == (
        62.0, 90.0, 29.0)  # fmt: skip


@pytest.mark.parametrize("stock", sorted(labels.STOCKS))
def test_png_size_and_resolution_match_the_stock(stock: str) -> None:
    s = labels.STOCKS[stock]
    img = Image.open(io.BytesIO(labels.render_png(CASES[0], stock, dpi=300)))
    assert img.size == (round(s.width_mm / 25.4 * 300), round(s.height_mm / 25.4 * 300))
    assert tuple(round(v) for v in img.info["dpi"]) == (300, 300)


def test_builtin_fonts_work_and_refuse_what_they_cannot_print() -> None:
    d = CASES[1]
    assert _decode(labels.render_png(d, "29x90", fonts=labels.BUILTIN_FONTS)) == _expect(d)
    assert labels.render_pdf(d, "29x90", fonts=labels.BUILTIN_FONTS).startswith(b"%PDF-")
    umlaut = LabelData("Thermostat Größe 2", "SBD-1", d.password)
    with pytest.raises(LabelError, match="cannot print; install DejaVu"):
        labels.render_png(umlaut, "62mm", fonts=labels.BUILTIN_FONTS)
    # The PDF core fonts cover Latin-1, and nothing beyond it.
    assert labels.render_pdf(umlaut, "62mm", fonts=labels.BUILTIN_FONTS).startswith(b"%PDF-")
    with pytest.raises(LabelError, match="cannot print; install DejaVu"):
        labels.render_pdf(LabelData("Łódź T1", "SBD-1", d.password), "62mm", fonts=labels.BUILTIN_FONTS)


def test_pdf_embeds_a_truetype_font_only_beyond_latin1() -> None:
    fonts = labels.find_fonts()
    if fonts.builtin:
        pytest.skip("no DejaVu fonts on this machine (apt-get install fonts-dejavu-core)")
    core = labels.render_pdf(LabelData("Thermostat Größe 2", "SBD-1", "k7mp2-xv9ad"), "62mm", fonts=fonts)
    assert b"/Helvetica" in core and b"/FontFile2" not in core
    embedded = labels.render_pdf(LabelData("Łódź T1", "SBD-1", "k7mp2-xv9ad"), "62mm", fonts=fonts)
    assert b"/FontFile2" in embedded and b"/Helvetica" not in embedded


def test_truetype_fonts_print_accents_and_refuse_missing_glyphs() -> None:
    fonts = labels.find_fonts()
    if fonts.builtin:
        pytest.skip("no DejaVu fonts on this machine (apt-get install fonts-dejavu-core)")
    d = LabelData("Thermostat Größe 2", "SBD-1", "k7mp2-xv9ad-3hrte-nq4fw")
    assert _decode(labels.render_png(d, "62mm", fonts=fonts)) == _expect(d)
    labels.render_pdf(d, "62mm", fonts=fonts)
    for render in (labels.render_png, labels.render_pdf):
        with pytest.raises(LabelError, match="cannot print"):
            render(LabelData("温度計", "SBD-1", d.password), "62mm", fonts=fonts)


def test_text_too_long_for_the_stock_is_refused() -> None:
    d = LabelData("W" * 64, "SBD-1", "k7mp2-xv9ad-3hrte-nq4fw", wifi_ssid="Setup")
    with pytest.raises(LabelError, match="model is too long for 29 x 90"):
        labels.render_png(d, "29x90")
    with pytest.raises(LabelError, match="model is too long for 29 x 90"):
        labels.render_pdf(d, "29x90")


@pytest.mark.parametrize(
    ("d", "match"),
    [
        (LabelData("", "S", "k7mp2-xv9ad"), "model"),
        (LabelData("M", "S\n2", "k7mp2-xv9ad"), "serial"),
        (LabelData("M", "S", "short"), "password"),
        (LabelData("M", "S", "k7mp2-xv9ad", wifi_ssid="x" * 33), "SSID"),
    ],
)
def test_bad_values_are_refused(d: LabelData, match: str) -> None:
    with pytest.raises(LabelError, match=match):
        labels.render_png(d)


def test_unknown_stock_is_refused() -> None:
    with pytest.raises(LabelError, match="unknown label stock 'A4'"):
        labels.render_pdf(CASES[0], "A4")


def test_write_labels_is_private_and_atomic(tmp_path: Path) -> None:
    pw = passwords.generate()
    d = LabelData("Acme T1", "SBD-000007", pw)
    paths = labels.write_labels(tmp_path / "labels", d, "29x90")
    assert [p.name for p in paths] == ["SBD-000007.png", "SBD-000007.pdf"]
    for p in paths:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, "a label holds a password"
    assert sorted(os.listdir(tmp_path / "labels")) == ["SBD-000007.pdf", "SBD-000007.png"], "no temp files left"
    assert _decode(paths[0].read_bytes()) == _expect(d)
    assert pw not in repr(d)


def test_write_labels_keeps_names_inside_the_folder(tmp_path: Path) -> None:
    d = LabelData("Acme T1", "../../etc/x", "k7mp2-xv9ad-3hrte-nq4fw")
    paths = labels.write_labels(tmp_path, d, formats=("png",))
    assert paths[0].parent == tmp_path and paths[0].name == "_.._etc_x.png"


def test_write_labels_into_an_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LabelError, match="cannot create the label folder"):
        labels.write_labels(blocker / "sub", CASES[0])


def _pdf_rects_to_png(pdf: bytes, width_mm: float, height_mm: float, dpi: int = 300) -> bytes:
    """Rasterise the filled rectangles of a PDF page (its QR codes) into a PNG,
    so the decoder reads the PDF's own geometry (no PDF renderer needed)."""
    import zlib

    from PIL import ImageDraw

    scale = dpi / 72
    img = Image.new("L", (round(width_mm * MM_TO_PT * scale), round(height_mm * MM_TO_PT * scale)), 255)
    draw = ImageDraw.Draw(img)
    page_h = height_mm * MM_TO_PT
    n = 0
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            content = zlib.decompress(m.group(1))
        except zlib.error:
            continue
        for x, y, w, h in re.findall(rb"([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+) re\s+f\b", content):
            fx, fy, fw, fh = (float(v) for v in (x, y, w, h))
            top, bottom = sorted((page_h - fy, page_h - (fy + fh)))
            draw.rectangle([fx * scale, top * scale, (fx + fw) * scale - 1, bottom * scale - 1], fill=0)
            n += 1
    assert n > 100, "the PDF draws its QR modules as filled rectangles"
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("stock", sorted(labels.STOCKS))
def test_pdf_qr_codes_decode_to_the_same_values(stock: str) -> None:
    s = labels.STOCKS[stock]
    for d in CASES:
        png = _pdf_rects_to_png(labels.render_pdf(d, stock), s.width_mm, s.height_mm)
        assert _decode(png) == _expect(d)
