# sbd.validate._utf8: strict UTF-8 (RFC 3629), as CPython decodes it.
#
# MicroPython's own decoder accepts overlong forms (C0 AF for "/"),
# surrogates (ED A0 80) and code points above U+10FFFF (F4 90 80 80); a
# validator must not let one runtime take what the other refuses.  Used by
# parse_json when a string holds a byte above 0x7f and by sbd.validate.form
# for every decoded value that does.  A module of its own so that neither pays
# for the other's code.


def check(b):
    # RFC 3629 well-formed UTF-8 (Table 3-7 of the Unicode standard).
    n = len(b)
    i = 0
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if 0xC2 <= c <= 0xDF:
            k = 1
        elif c <= 0xEF and c >= 0xE0:
            k = 2
            if c == 0xE0:
                lo = 0xA0  # overlong
            elif c == 0xED:
                hi = 0x9F  # surrogates
        elif 0xF0 <= c <= 0xF4:
            k = 3
            if c == 0xF0:
                lo = 0x90  # overlong
            elif c == 0xF4:
                hi = 0x8F  # above U+10FFFF
        else:
            return False
        if i + k >= n:  # truncated
            return False
        c = b[i + 1]
        if c < lo or c > hi:
            return False
        m = i + 2
        i += k + 1
        while m < i:
            if b[m] & 0xC0 != 0x80:
                return False
            m += 1
    return True
