"""The patterns and validators behind `llmops.runners.pii`, one detector list per kind.

A pattern alone over-matches: any 16 digits look like a card, any `XX00 ...` like an IBAN. So each
detector pairs a precompiled pattern with a check that returns the span to redact, or None to
reject the candidate: Luhn for cards, the ISO 13616 length table and mod-97 for IBANs,
`ipaddress` for IPv6, digit counts and separator rules for phones, a "looks like a secret, not a
word" rule for `password: ...` values. Lookbehinds keep every pattern from starting inside a
longer word or number, which is both what makes them precise and what keeps them linear.

Stdlib only: the data stage runs this on every record, the gateway on every request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import NamedTuple

Span = tuple[int, int]


class Detector(NamedTuple):
    """One pattern of one kind; `check` turns a regex match into the span to redact, or None."""

    kind: str
    pattern: re.Pattern[str]
    check: Callable[[re.Match[str]], Span | None]


def whole(match: re.Match[str]) -> Span | None:
    """The pattern says it all (the secret token formats): redact the whole match."""
    return match.span()


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number carries; random digit runs pass one in ten."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# ISO 13616 IBAN lengths by country (SWIFT IBAN registry): a candidate of the wrong length for its
# country is rejected before the checksum, which halves the strings mod-97 has to clear.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_ok(iban: str) -> bool:
    """ISO 13616: the right length for its country, and mod-97 of the rearranged number is 1.

    `iban` is compact (no spaces); letters count as 10..35, case-insensitively.
    """
    iban = iban.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isascii() or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


# -- email ------------------------------------------------------------------------------------
EMAIL = re.compile(
    r"(?<![\w.%+\-])[\w%+\-]++(?:\.[\w%+\-]++)*+"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"(?![\w\-]|\.[A-Za-z0-9])"
)

# -- phone ------------------------------------------------------------------------------------
# Never start inside a word, a number, a price, an order id (#12345) or after a digit and a
# space (the middle of a grouped card or IBAN); never end before more digits.
_PHONE_BEFORE = r"(?<![\w+#$€£¥/=.,:\-])(?<!\d )"
_PHONE_AFTER = r"(?![\w]|[.:/\-]\d)"
PHONE_INTL = re.compile(
    _PHONE_BEFORE + r"(?:\+|(?<!\d)00)[1-9]\d{0,2}(?:[ .\-]?\(0\))?"
    r"(?:[ .\-]?\(\d{1,5}\)|[ .\-]?\d++)++" + _PHONE_AFTER
)
PHONE_US = re.compile(
    _PHONE_BEFORE + r"(?:1[ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}" + _PHONE_AFTER
)
# A national number behind a trunk 0 (UK, DE, FR, NL, IT, ...): one separator kind throughout,
# so a date and a time side by side ("05.06.2024 10:00") never read as one number.
PHONE_TRUNK = re.compile(
    _PHONE_BEFORE + r"(?:\(0[1-9]\d{0,3}\)[ ]?\d++|0[1-9]\d*+)"
    r"(?:(?P<sep>[ .\-/])\d++(?:(?P=sep)\d++)*+)?" + _PHONE_AFTER
)


def _digit_count(match: re.Match[str], low: int, high: int) -> Span | None:
    digits = sum(char.isdigit() for char in match.group())
    return match.span() if low <= digits <= high else None


def phone_intl(match: re.Match[str]) -> Span | None:
    """E.164 allows at most 15 digits with the country code; fewer than 8 is no real number."""
    return _digit_count(match, 8, 15)


def phone_trunk(match: re.Match[str]) -> Span | None:
    """National numbers are 9-12 digits with the 0; a date (8 digits) stays out."""
    return _digit_count(match, 9, 12)


# -- card -------------------------------------------------------------------------------------
# Contiguous, or grouped the way cards are printed: 4-4-4-4(-3) and Amex/Diners 4-6-5 / 4-6-4.
CARD = re.compile(
    r"(?<![\w.,/#$€£¥\-])(?<!\d )(?:"
    r"\d{13,19}"
    r"|\d{4}(?P<s1>[ \-])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,4}(?:(?P=s1)\d{1,3})?(?!(?P=s1)\d)"
    r"|\d{4}(?P<s2>[ \-])\d{6}(?P=s2)\d{4,5}(?!(?P=s2)\d)"
    r")(?![\w]|[.,\-]\d)"
)


def card(match: re.Match[str]) -> Span | None:
    """13-19 digits from a card network (first digit 2-6) that pass Luhn."""
    digits = match.group().replace(" ", "").replace("-", "")
    ok = 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)
    return match.span() if ok else None


# -- ip ---------------------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?![\w]|\.\d)")
# A loose shape, then `ipaddress` decides: the full IPv6 grammar in one regex is unreadable.
IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4})?(?::[0-9A-Fa-f]{0,4}){2,8}(?:\.\d{1,3}){0,3}(?![\w:]|\.\d)"
)


def ipv6(match: re.Match[str]) -> Span | None:
    """A valid IPv6 address with at least one hex digit (a bare `::` is C++, not an address)."""
    text = match.group()
    if not any(char.isalnum() for char in text):
        return None
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return match.span()


# -- iban -------------------------------------------------------------------------------------
IBAN = re.compile(
    r"(?<![\w])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,4})?(?![\w])"
)


def iban(match: re.Match[str]) -> Span | None:
    """Valid for its country; a group of 4 that follows the IBAN is cut off, not a reason to miss it."""
    text = match.group()
    length = IBAN_LENGTHS.get(text[:2].upper())
    compact = text.replace(" ", "")
    if length is None or len(compact) < length or not iban_ok(compact[:length]):
        return None
    if len(compact) == length:
        return match.span()
    seen = 0
    for index, char in enumerate(text):
        seen += char != " "
        if seen == length:
            break
    end = index + 1
    if text[end] != " ":  # the cut would split a printed group: not an IBAN after all
        return None
    return match.start(), match.start() + end


# -- secret -----------------------------------------------------------------------------------
# Token formats with a fixed prefix: safe to redact wherever they appear.
SECRET_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:"
    r"(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,255}"
    r"|github_pat_[A-Za-z0-9_]{22,255}"
    r"|xox[baprs]-[A-Za-z0-9\-]{10,250}"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}"
    r"|sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_\-]{32,250}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{10,}"
    r")(?![A-Za-z0-9_\-])"
)
# A PEM private key: the whole block, or from BEGIN to the end of the base64 when cut short.
PEM_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r"(?:[\s\S]{0,20000}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|(?:[A-Za-z0-9+/=\s]|\\n)*)"
)
_KEY_NAMES = (
    r"client[_\-]?secret|secret[_\-]?(?:access[_\-]?)?key|access[_\-]?key(?:[_\-]?id)?|api[_\-]?key|apikey"
    r"|private[_\-]?key|(?:auth|access|refresh|bearer|session|csrf)[_\-]?token|password|passwd|passphrase"
    r"|pwd|secret|token"
)
# `key = value` / `"key": "value"` / `key: value`: only the value is redacted, so a reader still
# sees which credential leaked. `==` is a comparison, not an assignment.
SECRET_ASSIGNMENT = re.compile(
    rf"(?i)(?<![\w\-])(?:[a-z0-9]+[_.\-])*(?:{_KEY_NAMES})[\"']?(?P<op>[ \t]*(?::|=(?!=))[ \t]*)"
    r"(?P<quote>[\"']?)(?!\[(?:EMAIL|PHONE|CARD|IP|IBAN|SECRET)\])"
    r"(?P<value>[^\s\"'`]*[^\s\"'`.,;:!?)\]}>])"
)
BEARER = re.compile(r"(?i)\bbearer[ \t]+(?P<value>[A-Za-z0-9._~+/\-]{20,}=*)(?![\w])")
_NOT_SECRETS = frozenset(
    "none null nil true false undefined empty required optional redacted hidden masked".split()
)
_SECRET_SYMBOL = re.compile(r"[\d\W_]")


def assignment(match: re.Match[str]) -> Span | None:
    """The value, if it looks like a credential and not like prose or a template.

    A quoted value or a tight `key=value` is taken as written (short of null-ish words and
    `${VAR}`-style references); after a colon or a spaced `=` it may be an English sentence
    ("password: please reset it"), so it needs a digit, a symbol or inner capitals.
    """
    value = match.group("value")
    if len(value) < 3 or value.lower() in _NOT_SECRETS or value[0] in "$%{<*":
        return None
    if set(value) <= set("*xX#."):
        return None
    tight = match.group("op") == "="
    if not (match.group("quote") or tight):
        inner_capitals = any(char.isupper() for char in value[1:])
        if len(value) < 6 or not (_SECRET_SYMBOL.search(value) or inner_capitals):
            return None
    return match.span("value")


def bearer(match: re.Match[str]) -> Span | None:
    """`Authorization: Bearer <token>`: the token, when it has a digit (prose "bearer" has none)."""
    value = match.group("value")
    return match.span("value") if any(char.isdigit() for char in value) else None


DETECTORS: tuple[Detector, ...] = (
    Detector("secret", PEM_KEY, whole),
    Detector("secret", SECRET_TOKEN, whole),
    Detector("secret", SECRET_ASSIGNMENT, assignment),
    Detector("secret", BEARER, bearer),
    Detector("card", CARD, card),
    Detector("iban", IBAN, iban),
    Detector("email", EMAIL, whole),
    Detector("ip", IPV4, whole),
    Detector("ip", IPV6, ipv6),
    Detector("phone", PHONE_INTL, phone_intl),
    Detector("phone", PHONE_US, whole),
    Detector("phone", PHONE_TRUNK, phone_trunk),
)
