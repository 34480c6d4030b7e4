"""Per-device passwords (sbdtools.provision.passwords): CSPRNG only, >= 80 bits,
no look-alikes, never derived from an identifier; the verifier is the device's.

The statistical tests use a fixed significance level of 1e-6 each: a correct
generator fails one of the three chi-square tests in about 3 runs in a
million, while a biased one (a character twice as likely as the others, a
position that never varies, adjacent characters correlated) gives p-values
far below 1e-30 with these sample sizes.  So they are not flaky and can fail.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import secrets
from collections import Counter
from collections.abc import Iterator

import pytest

from sbdtools.provision import passwords

N_IDENTITIES = 10_000
ALPHA = 1e-6  # per chi-square test; see the module docstring


def _chi2_sf(x: float, k: int) -> float:
    """P(X >= x) for chi-square with k degrees of freedom: the regularised upper
    incomplete gamma Q(k/2, x/2), by its series (lower) or continued fraction (upper)."""
    a, z = k / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    log_pre = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= z / n
            total += term
        return max(0.0, 1.0 - math.exp(log_pre) * total)
    # Lentz's continued fraction for Q.
    tiny = 1e-300
    b = z + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(log_pre) * h


def _chi2(counts: Counter[str] | Counter[tuple[int, str]], expected: float, cells: int) -> tuple[float, int]:
    assert len(counts) <= cells
    stat = sum((counts.get(c, 0) - expected) ** 2 / expected for c in counts) + (cells - len(counts)) * expected
    return stat, cells - 1


def test_chi2_helper_matches_tables() -> None:
    # Textbook critical values: df 29 at 0.05 is 42.557; df 1 at 0.05 is 3.841; df 899 at 0.01 is 999.7.
    assert _chi2_sf(42.557, 29) == pytest.approx(0.05, rel=1e-3)
    assert _chi2_sf(3.841, 1) == pytest.approx(0.05, rel=1e-3)
    assert _chi2_sf(29.0, 30) == pytest.approx(0.5188, abs=2e-3)
    assert _chi2_sf(1000.0, 899) == pytest.approx(0.0106, rel=0.1)


def _identities() -> Iterator[tuple[str, str, str]]:
    """Serial, unique id and MAC of a batch as a factory would have them: sequential and guessable."""
    for i in range(N_IDENTITIES):
        uid = hashlib.sha256(b"board%d" % i).hexdigest()[:16]
        yield "SBD-%06d" % (i + 1), uid, "24:0a:c4:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255)


@pytest.fixture(scope="module")
def batch() -> list[tuple[str, str, str, str]]:
    return [(s, u, m, passwords.generate()) for s, u, m in _identities()]


def test_policy_gives_at_least_80_bits() -> None:
    alphabet, length = len(passwords.ALPHABET), passwords.GROUPS * passwords.GROUP_LEN
    assert len(set(passwords.ALPHABET)) == alphabet, "no repeated symbol (that would bias the draw)"
    bits = length * math.log2(alphabet)
    assert bits >= 80
    assert passwords.entropy_bits() == pytest.approx(bits)
    assert passwords.ENTROPY_BITS == pytest.approx(bits)
    # The separators are not counted: a password with one group fewer is under 80.
    assert passwords.entropy_bits(alphabet, length - passwords.GROUP_LEN) < 80


def test_alphabet_has_no_look_alikes() -> None:
    for c in "0oO1lIijJ":
        assert c not in passwords.ALPHABET, c
    assert passwords.ALPHABET == passwords.ALPHABET.lower(), "one case only: no s/S, c/C, x/X confusion"
    assert all(c.isascii() and c.isalnum() for c in passwords.ALPHABET)


def test_shape_is_grouped_for_typing(batch: list[tuple[str, str, str, str]]) -> None:
    for *_, pw in batch[:200]:
        assert len(pw) == passwords.LENGTH
        assert [len(g) for g in pw.split("-")] == [passwords.GROUP_LEN] * passwords.GROUPS
        assert passwords.is_generated_form(pw)
    assert not passwords.is_generated_form("abcde-fghkm-npqrs")
    assert not passwords.is_generated_form("abcde-fghkm-npqrs-tuvw0")


def test_ten_thousand_identities_get_distinct_passwords(batch: list[tuple[str, str, str, str]]) -> None:
    pws = [pw for *_, pw in batch]
    assert len(set(pws)) == N_IDENTITIES


def test_generate_takes_no_input_at_all() -> None:
    """Nothing about a board (serial, MAC, unique id), the time or a counter can reach the password."""
    assert inspect.signature(passwords.generate).parameters == {}


def test_every_character_comes_from_the_csprng(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the CSPRNG replaced by a scripted stream, the password is exactly
    that stream: no other source (clock, counter, identifier) mixes in."""
    script = "k7mp2xv9ad3hrtenq4fw"
    calls: list[str] = []

    def choice(seq: str) -> str:
        assert seq == passwords.ALPHABET
        c = script[len(calls) % len(script)]
        calls.append(c)
        return c

    monkeypatch.setattr(passwords.secrets, "choice", choice)
    first = passwords.generate()
    calls.clear()
    second = passwords.generate()
    assert first == second == "k7mp2-xv9ad-3hrte-nq4fw"


def test_the_same_board_provisioned_twice_gets_unrelated_passwords() -> None:
    serial, uid, _mac = next(_identities())
    pairs = [(passwords.generate(), passwords.generate()) for _ in range(2000)]
    assert all(a != b for a, b in pairs)
    # Unrelated: the two agree position by position only as often as chance
    # says (20 positions x 1/30 = 0.67 on average; the standard error of this
    # mean over 2000 pairs is 0.018, so 0.4-0.95 cannot fail by chance).
    same = sum(x == y for a, b in pairs for x, y in zip(a.replace("-", ""), b.replace("-", ""), strict=True))
    assert 0.4 < same / len(pairs) < 0.95
    assert serial and uid  # the identity exists; generate() never saw it


def _forms(serial: str, uid: str, mac: str) -> set[str]:
    digits = serial.split("-")[-1]
    macs = {mac, mac.replace(":", ""), mac.replace(":", "-"), mac.upper().replace(":", "")}
    return {serial.lower(), uid, uid[-8:], digits, *(m.lower() for m in macs)}


def test_no_password_contains_its_identifiers(batch: list[tuple[str, str, str, str]]) -> None:
    for serial, uid, mac, pw in batch:
        flat = pw.replace("-", "")
        for form in _forms(serial, uid, mac):
            f = form.lower()
            if len(f) >= 6:
                assert f not in pw and f not in flat, (serial, form)


def test_no_password_is_computable_from_its_identifiers(batch: list[tuple[str, str, str, str]]) -> None:
    """The usual mistakes: a hash or encoding of the serial/MAC/unique id mapped
    onto the alphabet.  None of them reproduces any password of the batch."""
    pws = {pw for *_, pw in batch}

    def to_pw(digest: bytes) -> str:
        n = int.from_bytes(digest, "big")
        chars = []
        for _ in range(passwords.GROUPS * passwords.GROUP_LEN):
            n, r = divmod(n, len(passwords.ALPHABET))
            chars.append(passwords.ALPHABET[r])
        s = "".join(chars)
        return "-".join(s[i : i + passwords.GROUP_LEN] for i in range(0, len(s), passwords.GROUP_LEN))

    for serial, uid, mac, _ in batch:
        for form in _forms(serial, uid, mac):
            for h in (hashlib.sha256, hashlib.sha1, hashlib.md5):
                assert to_pw(h(form.encode()).digest()) not in pws


def test_character_distribution_is_uniform(batch: list[tuple[str, str, str, str]]) -> None:
    chars = Counter(c for *_, pw in batch for c in pw if c != "-")
    assert set(chars) <= set(passwords.ALPHABET)
    n = sum(chars.values())
    stat, df = _chi2(chars, n / len(passwords.ALPHABET), len(passwords.ALPHABET))
    assert _chi2_sf(stat, df) > ALPHA, (stat, df)


def test_each_position_is_uniform(batch: list[tuple[str, str, str, str]]) -> None:
    cells: Counter[tuple[int, str]] = Counter((i, c) for *_, pw in batch for i, c in enumerate(pw.replace("-", "")))
    positions = passwords.GROUPS * passwords.GROUP_LEN
    stat, _ = _chi2(cells, N_IDENTITIES / len(passwords.ALPHABET), positions * len(passwords.ALPHABET))
    df = positions * (len(passwords.ALPHABET) - 1)  # each position's counts sum to N
    assert _chi2_sf(stat, df) > ALPHA, (stat, df)


def test_adjacent_characters_are_independent(batch: list[tuple[str, str, str, str]]) -> None:
    pairs = Counter(g[i : i + 2] for *_, pw in batch for g in pw.split("-") for i in range(len(g) - 1))
    n = sum(pairs.values())
    cells = len(passwords.ALPHABET) ** 2
    stat, df = _chi2(pairs, n / cells, cells)
    assert _chi2_sf(stat, df) > ALPHA, (stat, df)


def test_the_statistics_catch_a_biased_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chi-square test can fail: one character twice as likely as the rest is caught."""
    biased = passwords.ALPHABET + passwords.ALPHABET[0]
    real_choice = secrets.choice
    monkeypatch.setattr(passwords.secrets, "choice", lambda seq: real_choice(biased))
    chars = Counter(c for _ in range(N_IDENTITIES) for c in passwords.generate() if c != "-")
    stat, df = _chi2(chars, sum(chars.values()) / len(passwords.ALPHABET), len(passwords.ALPHABET))
    assert _chi2_sf(stat, df) < ALPHA


# -- the verifier --------------------------------------------------------------


def test_verifier_is_pbkdf2_hmac_sha256() -> None:
    pw = passwords.generate()
    v = passwords.verifier(pw, 2000)
    assert len(v.salt) == passwords.SALT_SIZE and v.iterations == 2000
    assert v.key == hashlib.pbkdf2_hmac("sha256", pw.encode(), v.salt, 2000, 32)
    assert passwords.check(v, pw)
    assert not passwords.check(v, pw[:-1] + ("2" if pw[-1] != "2" else "3"))
    assert pw not in repr(v) and v.key.hex() not in repr(v)


def test_verifier_uses_the_device_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    kdf = passwords._kdf()
    assert kdf.__name__ == "sbd.crypto.kdf"
    seen: list[int] = []
    real = kdf.pbkdf2_hmac_sha256

    def spy(p: bytes, s: bytes, n: int, dklen: int = 32) -> bytes:
        seen.append(n)
        return bytes(real(p, s, n, dklen))

    monkeypatch.setattr(kdf, "pbkdf2_hmac_sha256", spy)
    passwords.verifier("abcde-fghkm-npqrs-tuvwx", 1500)
    assert seen == [1500]


def test_salt_is_fresh_each_time() -> None:
    a = passwords.verifier("abcde-fghkm-npqrs-tuvwx", 1000)
    b = passwords.verifier("abcde-fghkm-npqrs-tuvwx", 1000)
    assert a.salt != b.salt and a.key != b.key
    salt = bytes(range(16))
    assert passwords.verifier("x" * 20, 1000, salt) == passwords.verifier("x" * 20, 1000, salt)


@pytest.mark.parametrize(
    ("iterations", "exc"),
    [(999, ValueError), (0, ValueError), (10_000_001, ValueError), (True, TypeError), (2000.0, TypeError)],
)
def test_verifier_refuses_bad_iteration_counts(iterations: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        passwords.verifier("abcde-fghkm-npqrs-tuvwx", iterations)  # type: ignore[arg-type]


def test_verifier_refuses_a_short_salt() -> None:
    with pytest.raises(ValueError, match="salt"):
        passwords.verifier("abcde-fghkm-npqrs-tuvwx", 1000, b"short")
