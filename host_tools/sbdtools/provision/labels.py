"""Device labels: PNG and PDF with model, serial, password and QR codes.

Two QR payloads (docs/provisioning.md, "QR payloads"):

* SBD1, always: ``SBD1:M:<model>;S:<serial>;P:<password>;;`` - fields in the
  MECARD/WIFI style, values escaped with a backslash before each of
  ``\\ ; , : "``; a parser ignores fields it does not know, so version 1 can
  gain fields; an incompatible change would be SBD2.
* WIFI, when the product has a setup access point: the standard
  ``WIFI:T:WPA;S:<ssid>;P:<passphrase>;;`` that phone cameras join, with the
  same escaping.

Two stocks: '62mm' (Brother DK-22205 style 62 mm continuous, cut at
LENGTH_62MM mm) and '29x90' (29 x 90 mm die-cut).  Text is fitted to its box,
the password set in a monospaced face with its groups kept whole.

Fonts: DejaVu Sans / Sans Mono when found (SBD_LABEL_FONT_DIR, then the usual
system folders); otherwise Pillow's built-in face for PNG and the PDF core
fonts (Helvetica, Courier), which then limits label text to ASCII.  A
character the chosen font cannot print is refused, never printed as a box.

Label files hold a password: write_labels() creates them readable by their
owner only (0600).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sbdtools.errors import SbdError
from sbdtools.fileio import write_atomic

SBD1_PREFIX = "SBD1:"
WIFI_PREFIX = "WIFI:"
_ESCAPED = '\\;,:"'
QR_ERROR = "m"  # 15% recovery: a scuffed label still scans
QR_BORDER = 4  # modules of quiet zone (the QR specification's minimum)
LENGTH_62MM = 62.0  # cut length on 62 mm continuous tape
DEFAULT_DPI = 300  # Brother QL and most thermal label printers
MAX_FIELD = 64


class LabelError(SbdError):
    """A label cannot be made from these values or with these fonts."""


@dataclass(frozen=True)
class LabelStock:
    name: str
    width_mm: float
    height_mm: float
    description: str


STOCKS: dict[str, LabelStock] = {
    "62mm": LabelStock("62mm", 62.0, LENGTH_62MM, "62 mm continuous tape, cut at 62 mm (e.g. Brother DK-22205)"),
    "29x90": LabelStock("29x90", 90.0, 29.0, "29 x 90 mm die-cut labels (e.g. Brother DK-11201)"),
}


@dataclass(frozen=True)
class LabelData:
    """What a label shows.  wifi_ssid set: the product has a setup access point
    and the label gets a WIFI QR; its passphrase is wifi_password, or the device
    password when that is None."""

    model: str
    serial: str
    password: str
    wifi_ssid: str | None = None
    wifi_password: str | None = None
    wifi_security: str = "WPA"

    def __repr__(self) -> str:
        return f"LabelData(model={self.model!r}, serial={self.serial!r}, password=***, wifi_ssid={self.wifi_ssid!r})"


# -- payloads ------------------------------------------------------------------


def escape(value: str) -> str:
    """Backslash-escape the characters the WIFI/MECARD syntax reserves."""
    return "".join("\\" + c if c in _ESCAPED else c for c in value)


def _fields(prefix: str, text: str) -> dict[str, str]:
    if not text.startswith(prefix):
        raise LabelError(f"not a {prefix[:-1]} payload")
    out: dict[str, str] = {}
    i, n = len(prefix), len(text)
    while i < n:
        if text[i] == ";":  # the empty field: end of the payload
            if i != n - 1:
                raise LabelError("text after the end of the payload")
            return out
        colon = text.find(":", i)
        key = text[i:colon] if colon > 0 else ""
        if not re.fullmatch(r"[A-Za-z]{1,8}", key):
            raise LabelError("malformed payload field name")
        i = colon + 1
        value = []
        while True:
            if i >= n:
                raise LabelError("unterminated payload field")
            c = text[i]
            if c == "\\":
                if i + 1 >= n:
                    raise LabelError("dangling escape in payload")
                value.append(text[i + 1])
                i += 2
            elif c == ";":
                i += 1
                break
            else:
                value.append(c)
                i += 1
        if key in out:
            raise LabelError(f"field {key} appears twice in the payload")
        out[key] = "".join(value)
    raise LabelError("payload does not end with ';;'")


def sbd1_payload(model: str, serial: str, password: str) -> str:
    """The SBD1 QR payload: model, serial and password."""
    return f"{SBD1_PREFIX}M:{escape(model)};S:{escape(serial)};P:{escape(password)};;"


def parse_sbd1(text: str) -> dict[str, str]:
    """Fields of an SBD1 payload: {'M': model, 'S': serial, 'P': password, ...unknown fields kept}."""
    f = _fields(SBD1_PREFIX, text)
    if not {"M", "S", "P"} <= f.keys():
        raise LabelError("an SBD1 payload needs M, S and P fields")
    return f


def wifi_payload(ssid: str, password: str | None, security: str = "WPA", hidden: bool = False) -> str:
    """The standard WIFI: QR payload a phone camera joins (security WPA, WEP or nopass)."""
    if security not in ("WPA", "WEP", "nopass"):
        raise LabelError("Wi-Fi security must be WPA, WEP or nopass")
    if not ssid or len(ssid.encode()) > 32:
        raise LabelError("a Wi-Fi SSID is 1-32 bytes")
    if security == "nopass":
        body = f"T:nopass;S:{escape(ssid)};"
    else:
        if not password or (security == "WPA" and not 8 <= len(password) <= 63):
            raise LabelError("a WPA passphrase is 8-63 characters")
        body = f"T:{security};S:{escape(ssid)};P:{escape(password)};"
    return WIFI_PREFIX + body + ("H:true;" if hidden else "") + ";"


def parse_wifi(text: str) -> dict[str, str]:
    """Fields of a WIFI: payload: {'T': ..., 'S': ..., 'P': ..., 'H': ...}."""
    f = _fields(WIFI_PREFIX, text)
    if "S" not in f:
        raise LabelError("a WIFI payload needs an S field")
    return f


@lru_cache(maxsize=32)  # the PNG and the PDF of one board share their codes
def qr_matrix(payload: str) -> tuple[bytes, ...]:
    """The QR code for `payload` as rows of 0/1 (no quiet zone)."""
    import segno

    return tuple(bytes(r) for r in segno.make(payload, error=QR_ERROR, micro=False).matrix)


# -- fonts ---------------------------------------------------------------------

_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
    "/Library/Fonts",
    os.path.expanduser("~/.local/share/fonts"),
)
_FONT_FILES = {"sans": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf", "mono": "DejaVuSansMono.ttf"}


@dataclass(frozen=True)
class Fonts:
    """TrueType files for the three faces; all None means the built-in fallbacks."""

    sans: str | None = None
    bold: str | None = None
    mono: str | None = None

    @property
    def builtin(self) -> bool:
        return self.sans is None


BUILTIN_FONTS = Fonts()


def find_fonts() -> Fonts:
    """DejaVu Sans, Sans Bold and Sans Mono from SBD_LABEL_FONT_DIR or a system folder, else built-ins."""
    dirs = [os.environ["SBD_LABEL_FONT_DIR"]] if os.environ.get("SBD_LABEL_FONT_DIR") else []
    for d in [*dirs, *_FONT_DIRS]:
        paths = {k: os.path.join(d, f) for k, f in _FONT_FILES.items()}
        if all(os.path.isfile(p) for p in paths.values()):
            return Fonts(paths["sans"], paths["bold"], paths["mono"])
    return BUILTIN_FONTS


@lru_cache(maxsize=8)
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as f:
        return frozenset(f.getBestCmap())


def _latin1(text: str) -> bool:
    return all(0x20 <= ord(c) < 0x7F or 0xA0 <= ord(c) <= 0xFF for c in text)


def _check_glyphs(fonts: Fonts, what: str, text: str, face: str, core_ok: bool = False) -> None:
    """Refuse text the font cannot print.  core_ok: the PDF core fonts (Latin-1) are an option."""
    if not text or not text.isprintable():
        raise LabelError(f"the {what} is empty or has characters that cannot be printed")
    if core_ok and _latin1(text):
        return
    path = getattr(fonts, face)
    missing = (
        [c for c in text if not 0x20 <= ord(c) < 0x7F]
        if path is None
        else [c for c in text if ord(c) not in _cmap(path)]
    )
    if missing:
        raise LabelError(
            f"the {what} has characters the label font cannot print; install DejaVu fonts or set "
            "SBD_LABEL_FONT_DIR to a folder holding DejaVuSans.ttf, DejaVuSans-Bold.ttf and DejaVuSansMono.ttf"
        )


# -- layout --------------------------------------------------------------------
# Everything is placed in millimetres on the page; each backend converts.
# Text sizes are the font's em size in mm; a text box shrinks its text to fit
# its width, never below min_mm (then the label cannot be made: LabelError).


@dataclass(frozen=True)
class _Text:
    x: float
    y: float  # top of the box
    w: float
    size: float
    min_size: float
    text: str
    face: str  # sans | bold | mono
    what: str
    center: bool = False  # centred in the box (captions under a QR code)


@dataclass(frozen=True)
class _QR:
    x: float
    y: float
    size: float  # side of the square, quiet zone included
    payload: str


def _password_lines(password: str, groups_per_line: int) -> list[str]:
    groups = password.split("-")
    lines = []
    for i in range(0, len(groups), groups_per_line):
        chunk = "-".join(groups[i : i + groups_per_line])
        lines.append(chunk + ("-" if i + groups_per_line < len(groups) else ""))
    return lines


def _layout(data: LabelData, stock: LabelStock) -> list[_Text | _QR]:
    ops: list[_Text | _QR] = []
    sbd1 = sbd1_payload(data.model, data.serial, data.password)
    wifi = (
        wifi_payload(data.wifi_ssid, data.wifi_password or data.password, data.wifi_security)
        if data.wifi_ssid
        else None
    )
    m = 3.0  # margin
    if stock.name == "62mm":
        w = stock.width_mm - 2 * m
        ops.append(_Text(m, m, w, 5.0, 2.5, data.model, "bold", "model"))
        ops.append(_Text(m, m + 6.5, w, 4.0, 2.2, "S/N " + data.serial, "sans", "serial"))
        ops.append(_Text(m, m + 12.5, w, 2.6, 2.0, "Password", "sans", "caption"))
        ops.append(_Text(m, m + 15.5, w, 5.0, 3.0, data.password, "mono", "password"))
        qy = m + 23.0
        qs = (w - 4.0) / 2 if wifi else 30.0
        qx = m if wifi else (stock.width_mm - qs) / 2  # one code alone is centred
        ops.append(_QR(qx, qy, qs, sbd1))
        ops.append(_Text(qx, qy + qs + 0.5, qs, 2.6, 2.0, "Setup", "sans", "caption", center=True))
        if wifi:
            ops.append(_QR(m + qs + 4.0, qy, qs, wifi))
            ops.append(_Text(m + qs + 4.0, qy + qs + 0.5, qs, 2.6, 1.8, "Wi-Fi " + (data.wifi_ssid or ""), "sans",
                             "Wi-Fi name", center=True))  # fmt: skip
    else:  # 29x90: QR left, text middle, Wi-Fi QR right
        m = 2.0
        qs = stock.height_mm - 2 * m
        ops.append(_QR(m, m, qs, sbd1))
        tx = m + qs + 1.5
        right = stock.width_mm - m - ((qs + 1.5) if wifi else 0.0)
        w = right - tx
        ops.append(_Text(tx, m + 0.5, w, 3.6, 2.0, data.model, "bold", "model"))
        ops.append(_Text(tx, m + 5.0, w, 3.0, 2.0, "S/N " + data.serial, "sans", "serial"))
        ops.append(_Text(tx, m + 9.6, w, 2.0, 1.6, "Password", "sans", "caption"))
        lines = _password_lines(data.password, 4 if not wifi else 2)
        size = 3.6 if len(lines) == 1 else 3.4
        for i, line in enumerate(lines):
            ops.append(_Text(tx, m + 12.4 + i * (size * 1.15), w, size, 2.2, line, "mono", "password"))
        if wifi:
            ops.append(_QR(right + 1.5, m, qs, wifi))
    return ops


def _validate(data: LabelData, fonts: Fonts, stock: str, pdf: bool = False) -> LabelStock:
    if stock not in STOCKS:
        raise LabelError(f"unknown label stock {stock!r}: use one of {', '.join(STOCKS)}")
    for what, value in (("model", data.model), ("serial", data.serial)):
        if not isinstance(value, str) or not 0 < len(value) <= MAX_FIELD:
            raise LabelError(f"the {what} must be 1-{MAX_FIELD} characters")
    if not isinstance(data.password, str) or not 8 <= len(data.password) <= MAX_FIELD:
        raise LabelError(f"the password must be 8-{MAX_FIELD} characters")
    core_ok = pdf and _latin1(data.model + data.serial + data.password + (data.wifi_ssid or ""))
    _check_glyphs(fonts, "model", data.model, "bold", core_ok)
    _check_glyphs(fonts, "serial", data.serial, "sans", core_ok)
    _check_glyphs(fonts, "password", data.password, "mono", core_ok)
    if data.wifi_ssid is not None:
        _check_glyphs(fonts, "Wi-Fi name", data.wifi_ssid, "sans", core_ok)
    return STOCKS[stock]


# -- PNG (Pillow) --------------------------------------------------------------


def render_png(data: LabelData, stock: str = "62mm", *, dpi: int = DEFAULT_DPI, fonts: Fonts | None = None) -> bytes:
    """The label as a greyscale PNG at `dpi` (its size is the stock's, in pixels)."""
    from PIL import Image, ImageDraw

    fonts = find_fonts() if fonts is None else fonts
    st = _validate(data, fonts, stock)
    if not 100 <= dpi <= 1200:
        raise LabelError("dpi must be between 100 and 1200")
    px = dpi / 25.4

    def font(face: str, size_px: float) -> Any:
        return _png_font(getattr(fonts, face), round(size_px, 1))

    img = Image.new("L", (round(st.width_mm * px), round(st.height_mm * px)), 255)
    draw = ImageDraw.Draw(img)
    for op in _layout(data, st):
        if isinstance(op, _QR):
            _draw_qr_png(draw, op, px)
            continue
        size = op.size
        while True:
            f = font(op.face, size * px)
            if draw.textlength(op.text, font=f) <= op.w * px or size <= op.min_size:
                break
            size = max(op.min_size, size * 0.92)
        if draw.textlength(op.text, font=f) > op.w * px:
            raise LabelError(f"the {op.what} is too long for {st.description}")
        x = op.x * px + ((op.w * px - draw.textlength(op.text, font=f)) / 2 if op.center else 0)
        draw.text((x, (op.y + 0.8 * size) * px), op.text, font=f, fill=0, anchor="ls")
    out = io.BytesIO()
    img.save(out, "PNG", dpi=(dpi, dpi))  # optimize=True: 6x the time for 15% less
    return out.getvalue()


@lru_cache(maxsize=64)
def _png_font(path: str | None, size_px: float) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size_px) if path is None else ImageFont.truetype(path, size_px)


def _draw_qr_png(draw: Any, op: _QR, px: float) -> None:
    matrix = qr_matrix(op.payload)
    n = len(matrix) + 2 * QR_BORDER
    # Whole pixels per module, so every module has the same width (a decoder
    # and a printer both like that); centred in the box.
    mod = max(1, int(op.size * px / n))
    x0 = round(op.x * px + (op.size * px - mod * n) / 2) + QR_BORDER * mod
    y0 = round(op.y * px + (op.size * px - mod * n) / 2) + QR_BORDER * mod
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                draw.rectangle([x0 + start * mod, y0 + r * mod, x0 + c * mod - 1, y0 + (r + 1) * mod - 1], fill=0)
            else:
                c += 1


# -- PDF (fpdf2) ---------------------------------------------------------------


def render_pdf(data: LabelData, stock: str = "62mm", *, fonts: Fonts | None = None) -> bytes:
    """The label as a one-page PDF whose page is exactly the stock's size."""
    from fpdf import FPDF

    fonts = find_fonts() if fonts is None else fonts
    st = _validate(data, fonts, stock, pdf=True)
    pdf = FPDF(orientation="P", unit="mm", format=(st.width_mm, st.height_mm))
    pdf.set_margins(0, 0, 0)
    pdf.set_auto_page_break(False)
    pdf.set_creator("sbd provision")
    pdf.set_title(f"{data.model} {data.serial}")
    # The PDF core fonts (Helvetica, Courier: every viewer and printer has them)
    # when the text is Latin-1; otherwise the TrueType faces, embedded.  Core
    # fonts make a PDF in about 10 ms, embedding one costs about 0.5 s.
    faces: dict[str, tuple[str, str]] = {"sans": ("Helvetica", ""), "bold": ("Helvetica", "B"), "mono": ("Courier", "")}
    if not _latin1(data.model + data.serial + data.password + (data.wifi_ssid or "")):
        for face in ("sans", "bold", "mono"):
            pdf.add_font("sbd-" + face, "", getattr(fonts, face))
            faces[face] = ("sbd-" + face, "")
    pdf.add_page()
    pt_per_mm = 72 / 25.4
    for op in _layout(data, st):
        if isinstance(op, _QR):
            _draw_qr_pdf(pdf, op)
            continue
        family, style = faces[op.face]
        size = op.size
        while True:
            pdf.set_font(family, style, size * pt_per_mm)
            if pdf.get_string_width(op.text) <= op.w or size <= op.min_size:
                break
            size = max(op.min_size, size * 0.92)
        if pdf.get_string_width(op.text) > op.w:
            raise LabelError(f"the {op.what} is too long for {st.description}")
        x = op.x + ((op.w - pdf.get_string_width(op.text)) / 2 if op.center else 0)
        pdf.text(x, op.y + 0.8 * size, op.text)
    return bytes(pdf.output())


def _draw_qr_pdf(pdf: Any, op: _QR) -> None:
    matrix = qr_matrix(op.payload)
    n = len(matrix) + 2 * QR_BORDER
    mod = op.size / n
    x0 = op.x + QR_BORDER * mod
    y0 = op.y + QR_BORDER * mod
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                pdf.rect(x0 + start * mod, y0 + r * mod, (c - start) * mod, mod, style="F")
            else:
                c += 1


# -- files ---------------------------------------------------------------------


def _safe_name(serial: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", serial).lstrip(".")
    if not name:
        raise LabelError("the serial gives no usable file name")
    return name


def write_labels(
    directory: str | os.PathLike[str],
    data: LabelData,
    stock: str = "62mm",
    *,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = DEFAULT_DPI,
    fonts: Fonts | None = None,
) -> list[Path]:
    """Write <serial>.png / <serial>.pdf into `directory`: atomically (temp file
    + rename, so a crash never leaves half a label) and mode 0600 (a label
    holds a password).  Returns the paths written."""
    for f in formats:
        if f not in ("png", "pdf"):
            raise LabelError(f"unknown label format {f!r}: use png or pdf")
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LabelError(f"cannot create the label folder {d}: {e.strerror}") from None
    fonts = find_fonts() if fonts is None else fonts
    rendered = [
        (f, render_png(data, stock, dpi=dpi, fonts=fonts) if f == "png" else render_pdf(data, stock, fonts=fonts))
        for f in formats
    ]
    paths = []
    for fmt, blob in rendered:
        path = d / f"{_safe_name(data.serial)}.{fmt}"
        try:
            write_atomic(path, blob)
        except OSError as e:
            raise LabelError(f"cannot write the label {path}: {e.strerror}") from None
        paths.append(path)
    return paths
