"""sbd harden against espefuse's virtual eFuses (a file keeps their state
between calls) and espsecure's offline sign/verify and encrypt/decrypt: the
whole flow, the dry run, the typed confirmation, and each pre-flight refusal."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from harness.firmware_synth import esp_app_image, write
from sbdtools import boards, harden
from sbdtools.harden import HardenError, Keys, Profile

APP = 0x10000


def _virtual(tmp_path: Path, chip: str, *, revision3: bool = True) -> Path:
    """A fresh virtual chip; an ESP32 made v3.0 (ECO3) the way the factory does, by its eFuses."""
    path = tmp_path / f"efuses-{chip}.json"
    if chip == "esp32" and revision3:
        for name in ("CHIP_VER_REV1", "CHIP_VER_REV2"):
            with harden.efuses(chip, virtual=path) as c, contextlib.redirect_stdout(io.StringIO()):
                c.burn_efuse({name: 1})
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return harden.make_keys(tmp_path_factory.mktemp("keys") / "k")


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return harden.make_keys(tmp_path_factory.mktemp("other") / "k")


def _images(tmp_path: Path, keys: Keys, chip: str) -> tuple[Path, Path]:
    app = write(tmp_path / f"app-{chip}.bin", esp_app_image(chip))
    signed = harden.sign(keys, app, tmp_path / f"app-{chip}-signed.bin")
    enc = harden.encrypt(keys, chip, signed, APP, tmp_path / f"app-{chip}-enc.bin")
    return signed, enc


def _value(path: Path, chip: str, name: str) -> int:
    with harden.efuses(chip, virtual=path) as c:
        return int(c.efuses[name].get())


@pytest.mark.parametrize("board", ["esp32", "esp32s3"])
def test_whole_flow_on_virtual_efuses(tmp_path: Path, keys: Keys, other_keys: Keys, board: str) -> None:
    cfg = boards.load(board)
    ef = _virtual(tmp_path, cfg.chip)
    backup = tmp_path / "backup"
    harden.backup_keys(keys, backup)
    signed, enc = _images(tmp_path, keys, cfg.chip)
    profile = Profile(download="keep" if board == "esp32" else "secure")
    with harden.efuses(cfg.chip, virtual=ef) as c:
        p = harden.plan(c, cfg, profile, keys, backup=backup, signed=signed, encrypted=enc, address=APP)
        assert not p.problems, p.problems
        text = "\n".join(p.describe())
        assert "IRREVERSIBLE" in text and "secure boot" in text and "flash encryption key" in text
        with pytest.raises(HardenError, match="not confirmed: type exactly 'burn "):
            harden.apply(c, p, keys, confirm="yes")
    jtag = "JTAG_DISABLE" if board == "esp32" else "DIS_PAD_JTAG"
    assert _value(ef, cfg.chip, jtag) == 0, "a refused confirmation burns nothing"
    with harden.efuses(cfg.chip, virtual=ef) as c:
        harden.apply(c, p, keys, confirm=p.phrase)
    # the state persisted in the file: a new session sees every step done
    with harden.efuses(cfg.chip, virtual=ef) as c:
        again = harden.plan(c, cfg, profile, keys, backup=backup, signed=signed, encrypted=enc, address=APP)
        assert not again.problems and not again.steps and len(again.done) == len(p.steps)
        assert not c.efuses["BLOCK1" if board == "esp32" else "BLOCK_KEY0"].is_readable()
    assert _value(ef, cfg.chip, jtag) == 1
    crypt = "FLASH_CRYPT_CNT" if board == "esp32" else "SPI_BOOT_CRYPT_CNT"
    assert _value(ef, cfg.chip, crypt) == 1
    # another signing key no longer fits this board
    harden.backup_keys(other_keys, tmp_path / "other-backup")
    other_signed = harden.sign(other_keys, signed, tmp_path / "resigned.bin")
    with harden.efuses(cfg.chip, virtual=ef) as c:
        p2 = harden.plan(
            c,
            cfg,
            Profile(flash_encryption=False, download="keep"),
            other_keys,
            backup=tmp_path / "other-backup",
            signed=other_signed,
        )
        assert len(p2.problems) == 1 and "holds another secure boot key digest" in p2.problems[0]


def _plan_problems(tmp_path: Path, keys: Keys, **kw: object) -> list[str]:
    cfg = boards.load(str(kw.pop("board", "esp32")))
    ef = kw.pop("efuses", None) or _virtual(tmp_path, cfg.chip)
    profile = kw.pop("profile", Profile(download="keep"))
    with harden.efuses(cfg.chip, virtual=ef) as c:  # type: ignore[arg-type]
        return harden.plan(c, cfg, profile, keys, **kw).problems  # type: ignore[arg-type]


def test_refused_without_a_backup(tmp_path: Path, keys: Keys) -> None:
    signed, enc = _images(tmp_path, keys, "esp32")
    got = _plan_problems(tmp_path, keys, backup=None, signed=signed, encrypted=enc, address=APP)
    assert any("back the keys up first" in p for p in got)
    bad = tmp_path / "bk"
    bad.mkdir()
    (bad / harden.SIGNING_KEY).write_bytes(keys.signing.read_bytes())
    (bad / harden.FLASH_KEY).write_bytes(b"\0" * 32)
    got = _plan_problems(tmp_path, keys, backup=bad, signed=signed, encrypted=enc, address=APP)
    assert got == [
        f"{bad / harden.FLASH_KEY}: no identical backup of {harden.FLASH_KEY}; run `sbd harden backup` again"
    ]


def test_refused_when_the_image_is_not_signed_with_the_key(tmp_path: Path, keys: Keys, other_keys: Keys) -> None:
    harden.backup_keys(keys, tmp_path / "b")
    unsigned = write(tmp_path / "app.bin", esp_app_image("esp32"))
    signed_other, _ = _images(tmp_path, other_keys, "esp32")
    for img in (unsigned, signed_other):
        got = _plan_problems(
            tmp_path, keys, backup=tmp_path / "b", signed=img, profile=Profile(flash_encryption=False, download="keep")
        )
        assert len(got) == 1 and "not signed with this signing key" in got[0]


def test_refused_when_the_image_is_not_encrypted_with_the_key(tmp_path: Path, keys: Keys, other_keys: Keys) -> None:
    harden.backup_keys(keys, tmp_path / "b")
    signed, enc = _images(tmp_path, keys, "esp32")
    wrong = harden.encrypt(other_keys, "esp32", signed, APP, tmp_path / "wrong.bin")
    for e, addr in ((wrong, APP), (enc, APP + 0x1000), (signed, APP)):
        got = _plan_problems(tmp_path, keys, backup=tmp_path / "b", signed=signed, encrypted=e, address=addr)
        assert len(got) == 1 and "not encrypted with this flash encryption key" not in got[0]
        assert "encrypted with this flash encryption key" in got[0]


def test_refused_to_close_download_mode_unless_told(tmp_path: Path, keys: Keys) -> None:
    harden.backup_keys(keys, tmp_path / "b")
    signed, enc = _images(tmp_path, keys, "esp32")
    kw = {
        "backup": tmp_path / "b",
        "signed": signed,
        "encrypted": enc,
        "address": APP,
        "profile": Profile(download="off"),
    }
    got = _plan_problems(tmp_path, keys, **kw)
    assert len(got) == 1 and "--allow-no-download" in got[0]
    assert _plan_problems(tmp_path, keys, allow_no_download=True, **kw) == []
    got = _plan_problems(tmp_path, keys, **{**kw, "profile": Profile(download="secure")})
    assert got and "no secure download mode" in got[0]


def test_refused_when_efuses_are_burnt_differently(tmp_path: Path, keys: Keys, other_keys: Keys) -> None:
    harden.backup_keys(keys, tmp_path / "b")
    signed, enc = _images(tmp_path, keys, "esp32")
    ef = _virtual(tmp_path, "esp32")
    with harden.efuses("esp32", virtual=ef) as c, contextlib.redirect_stdout(io.StringIO()):
        c.burn_efuse({"FLASH_CRYPT_CONFIG": 3})
        with open(other_keys.signing, "rb") as k:
            c.burn_key_digest(k)
    got = _plan_problems(tmp_path, keys, efuses=ef, backup=tmp_path / "b", signed=signed, encrypted=enc, address=APP)
    assert any("FLASH_CRYPT_CONFIG is already burnt differently (holds 0x3" in p for p in got)
    assert any("BLOCK2 is already burnt differently (holds another secure boot key digest)" in p for p in got)
    with harden.efuses("esp32", virtual=ef) as c:
        p = harden.plan(c, boards.load("esp32"), Profile(download="keep"), keys, backup=tmp_path / "b")
        with pytest.raises(HardenError, match="unresolved problems"):
            harden.apply(c, p, keys, confirm=p.phrase)


def test_refused_on_silicon_older_than_eco3(tmp_path: Path, keys: Keys) -> None:
    harden.backup_keys(keys, tmp_path / "b")
    signed, enc = _images(tmp_path, keys, "esp32")
    old = _virtual(tmp_path, "esp32", revision3=False)
    got = _plan_problems(tmp_path, keys, efuses=old, backup=tmp_path / "b", signed=signed, encrypted=enc, address=APP)
    assert got == ["this ESP32 is v0.0: secure boot v2 needs v3.0 (ECO3) or later"]


def test_refused_on_the_wrong_chip(tmp_path: Path, keys: Keys) -> None:
    ef = _virtual(tmp_path, "esp32s3")
    with harden.efuses("esp32s3", virtual=ef) as c:
        p = harden.plan(c, boards.load("esp32"), Profile(download="keep"), keys, backup=None)
    assert p.problems == ["the eFuses are an ESP32-S3's, but board esp32 is an esp32"]


def test_keys_are_never_overwritten(keys: Keys) -> None:
    before = keys.flash.read_bytes()
    with pytest.raises(HardenError, match="sbd never replaces a key"):
        harden.make_keys(keys.folder)
    assert keys.flash.read_bytes() == before
    assert oct(keys.flash.stat().st_mode & 0o777) == "0o600" and oct(keys.signing.stat().st_mode & 0o777) == "0o600"


def test_sign_and_encrypt_round_trips(tmp_path: Path, keys: Keys, other_keys: Keys) -> None:
    for chip in ("esp32", "esp32s3"):
        signed, enc = _images(tmp_path, keys, chip)
        assert harden.signed_by(keys, signed) and not harden.signed_by(other_keys, signed)
        assert enc.read_bytes() != signed.read_bytes()
        assert harden.decrypt(keys, chip, enc, APP) == signed.read_bytes()
        assert harden.decrypt(other_keys, chip, enc, APP) != signed.read_bytes()


def test_refused_to_turn_encryption_on_over_an_unknown_key(tmp_path: Path, keys: Keys, other_keys: Keys) -> None:
    harden.backup_keys(keys, tmp_path / "b")
    signed, enc = _images(tmp_path, keys, "esp32")
    ef = _virtual(tmp_path, "esp32")
    with harden.efuses("esp32", virtual=ef) as c, contextlib.redirect_stdout(io.StringIO()):
        with open(other_keys.flash, "rb") as k:
            c.burn_key(["flash_encryption"], [k])
    got = _plan_problems(tmp_path, keys, efuses=ef, backup=tmp_path / "b", signed=signed, encrypted=enc, address=APP)
    assert len(got) == 1 and "would brick the board" in got[0]


def test_cli_dry_run_then_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sbdtools import cli

    def sbd(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as e:
            cli.main(list(args))
        got = capsys.readouterr()
        return int(e.value.code or 0), got.out, got.err

    k, b = str(tmp_path / "keys"), str(tmp_path / "backup")
    assert sbd("harden", "keys", k)[0] == 0
    code, _, err = sbd("harden", "keys", k)
    assert code == 1 and "sbd never replaces a key" in err
    assert sbd("harden", "backup", "--keys", k, "--to", b)[0] == 0
    app = write(tmp_path / "app.bin", esp_app_image("esp32"))
    signed, enc = str(tmp_path / "s.bin"), str(tmp_path / "e.bin")
    assert sbd("harden", "sign", "--keys", k, str(app), "--out", signed)[0] == 0
    assert (
        sbd("harden", "encrypt", "--keys", k, "--board", "esp32", "--address", "0x10000", signed, "--out", enc)[0] == 0
    )
    ef = _virtual(tmp_path, "esp32")
    base = ("harden", "plan", "--board", "esp32", "--keys", k, "--virtual", str(ef), "--signed", signed)
    base += ("--encrypted", enc, "--address", "0x10000")
    code, out, err = sbd(*base)
    assert code == 1 and "no key backup given" in out and "nothing was burnt" in err
    code, out, _ = sbd(*base, "--backup", b)
    assert code == 0 and "dry run: nothing burnt" in out and "IRREVERSIBLE" in out
    assert _value(ef, "esp32", "ABS_DONE_1") == 0
    code, _, err = sbd(*base, "--backup", b, "--apply", "--confirm", "burn it")
    assert code == 1 and "not confirmed" in err and _value(ef, "esp32", "ABS_DONE_1") == 0
    code, out, err = sbd(*base, "--backup", b, "--apply", "--confirm", "burn 00:00:00:00:00:00")
    assert code == 0, err
    assert _value(ef, "esp32", "ABS_DONE_1") == 1 and _value(ef, "esp32", "JTAG_DISABLE") == 1
    code, out, _ = sbd(*base, "--backup", b, "--apply", "--confirm", "burn 00:00:00:00:00:00")
    assert code == 0 and "nothing left to burn" in out


def test_a_failure_before_the_batch_is_burnt_burns_nothing(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The keys are queued in espefuse's batch; the eFuse fields fail to queue:
    # nothing reaches the eFuses, the keys included.
    harden.backup_keys(keys, tmp_path / "b")
    signed, enc = _images(tmp_path, keys, "esp32")
    ef = _virtual(tmp_path, "esp32")
    cfg = boards.load("esp32")
    with harden.efuses("esp32", virtual=ef) as c:
        p = harden.plan(
            c, cfg, Profile(download="keep"), keys, backup=tmp_path / "b", signed=signed, encrypted=enc, address=APP
        )

        def broken(values: dict[str, int]) -> None:
            raise RuntimeError("port went away")

        monkeypatch.setattr(c, "burn_efuse", broken)
        with pytest.raises(HardenError, match="espefuse stopped: port went away"):
            harden.apply(c, p, keys, confirm=p.phrase)
    with harden.efuses("esp32", virtual=ef) as c:
        assert c.efuses["BLOCK1"].is_readable() and c.efuses["BLOCK1"].is_writeable()
        assert not any(c.efuses["BLOCK1"].get_raw()) and not any(c.efuses["BLOCK2"].get_raw())
        again = harden.plan(
            c, cfg, Profile(download="keep"), keys, backup=tmp_path / "b", signed=signed, encrypted=enc, address=APP
        )
        assert not again.problems and len(again.steps) == len(p.steps)
