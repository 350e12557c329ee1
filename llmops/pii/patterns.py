"""The patterns and validators behind `llmops.pii`, one detector list per kind.

A pattern alone over-matches: any 16 digits look like a card, any `XX00 ...` like an IBAN. So each
detector pairs a precompiled pattern with a check that returns the span to redact, or None to
reject the candidate: Luhn for cards, the ISO 13616 length table and mod-97 for IBANs,
`ipaddress` for IPv6, digit counts and separator rules for phones, a "looks like a secret, not a
word" rule for `password: ...` values. Lookbehinds keep every pattern from starting inside a
longer word or number, which is both what makes them precise and what keeps them linear.

A "word" here is a letter or digit of a script that separates words with spaces, so a value glued
to Chinese, Japanese or Korean text is still found (`llmops.pii.text`). Phones have their own
module (`llmops.pii.phone`): they take the most formats and the most context.

Stdlib only: the data stage runs this on every record, the gateway on every request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import NamedTuple

from llmops.pii.phone import (
    PHONE_BARE,
    PHONE_INTL,
    PHONE_NATIONAL,
    PHONE_TRUNK,
    PHONE_US,
    phone_bare,
    phone_intl,
    phone_national,
    phone_trunk,
)
from llmops.pii.text import Span
from llmops.pii.text import W as _W
from llmops.pii.text import context as _context


class Detector(NamedTuple):
    """One pattern of one kind; `check` turns a regex match into the span to redact, or None.

    `needs` is a cheap test a text must pass before the pattern runs: most records hold no PII,
    and a substring test in C is far cheaper than a regex trying every position.
    """

    kind: str
    pattern: re.Pattern[str]
    check: Callable[[re.Match[str]], Span | None]
    needs: Callable[[str], object]


def _any(*parts: str) -> Callable[[str], bool]:
    return lambda text: any(part in text for part in parts)


has_digit = re.compile(r"\d").search


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
# The local part takes letters of spaced scripts only, so `请联系jane@example.com` starts at `jane`.
_LOCAL = r"[0-9A-Za-z\u00c0-\u024f\u0370-\u04ff_%+\-]"
EMAIL = re.compile(
    rf"(?<![.%+\-])(?<!{_W}){_LOCAL}++(?:\.{_LOCAL}++)*+"
    r"[@＠](?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?[.．])+[A-Za-z]{2,24}"
    r"(?![A-Za-z_\-]|\.[A-Za-z0-9])"  # digits may follow: no TLD has any, so they are glued text
)
# Written to fool a scraper: `bob (at) example (dot) com`, `bob[at]example[dot]com`. The words
# must be bracketed: `meet at example dot com` is not taken (prose has too many of those).
_AT = r"[ ]?[(\[{<][ ]?(?:at|AT|At)[ ]?[)\]}>][ ]?"
_DOT = r"(?:\.|[ ]?[(\[{<][ ]?(?:dot|DOT|Dot)[ ]?[)\]}>][ ]?)"
EMAIL_OBFUSCATED = re.compile(
    rf"(?<![.%+\-])(?<!{_W}){_LOCAL}++(?:\.{_LOCAL}++)*+{_AT}"
    rf"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{{0,61}}[A-Za-z0-9])?{_DOT})+[A-Za-z]{{2,24}}(?![A-Za-z_\-])"
)
_OBFUSCATED_AT = re.compile(r"[(\[{<] ?(?:at|AT|At) ?[)\]}>]").search

# -- card -------------------------------------------------------------------------------------
# Contiguous, or grouped the way cards are printed: 4-4-4-4(-3) and Amex/Diners 4-6-5 / 4-6-4.
# Grouped, it takes every following group of the same separator ("4111 1111 1111 1111 030 ...")
# and `card` finds where the card ends; an expiry ("... 1111 12/27") may follow.
# A lone digit and a space may stand before a grouped card ("order 7 4111 1111 1111 1111"); two
# digits may not (the middle of an IBAN or a longer grouped number).
CARD = re.compile(
    rf"(?=\d)(?<![.,/#$€£¥\-])(?<!{_W})(?:"
    rf"\d{{13,19}}(?!{_W}|[.,\-]\d)"
    r"|(?<!\d\d[ .\-])\d{4}(?P<s1>[ .\-])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,4}(?:(?P=s1)\d{1,4})*+"
    rf"(?!{_W}|[.,]\d)"
    rf"|(?<!\d\d[ .\-])\d{{4}}(?P<s2>[ .\-])\d{{6}}(?P=s2)\d{{4,5}}(?!{_W}|[.,]\d)"
    r")"
)


# A barcode or book number that happens to pass Luhn (one in ten does).
_NOT_CARD_CUE = re.compile(r"(?i)(?:ean|gtin|upc|isbn|imei|barcode)[\W_]{0,3}$")
_IBAN_BEFORE = re.compile(r"[A-Z]{2}\d\d(?: [A-Z0-9]{4})+ $")


def card(match: re.Match[str]) -> Span | None:
    """13-19 digits from a card network (first digit 2-6, or JCB's 1800) that pass Luhn.

    Of grouped digits the longest leading run of groups that is a card wins; but a 4-digit group
    right after four 4-digit groups means one longer number (a tracking id), not a card.
    """
    text = match.group()
    sep = match.group("s1") or match.group("s2") or ""
    if _NOT_CARD_CUE.search(match.string, max(0, match.start() - 16), match.start()):
        return None
    if sep and _IBAN_BEFORE.search(match.string, max(0, match.start() - 40), match.start()):
        return None  # the account digits of an IBAN printed in groups
    groups = text.split(sep, 6) if sep else [text]  # a card has at most 5 groups
    for count in range(min(len(groups), 5), 0, -1):
        digits = "".join(groups[:count])
        if len(digits) > 19:
            continue
        if len(digits) < 13:
            return None
        if count < len(groups) and len(groups[count]) == 4 and all(len(g) == 4 for g in groups[:count]):
            return None
        if (digits[0] in "23456" or digits.startswith("1800")) and luhn_ok(digits):
            return match.start(), match.start() + len(sep.join(groups[:count]))
    return None


# -- ip ---------------------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?=\d)(?<![.])(?<!{_W})(?:{_OCTET}\.){{3}}{_OCTET}(?!{_W}|\.\d)")
_VERSION_CUE = re.compile(r"(?i)\b(?:version|ver|release|build|firmware|v)\.?\s*$")


def ipv4(match: re.Match[str]) -> Span | None:
    """Four octets, unless the word before says it is a version number ("version 1.2.3.4")."""
    before = match.string[max(0, match.start() - 12) : match.start()]
    return None if _VERSION_CUE.search(before) else match.span()


# A loose shape, then `ipaddress` decides: the full IPv6 grammar in one regex is unreadable.
IPV6 = re.compile(
    rf"(?=[0-9A-Fa-f:])(?<![:.])(?<!{_W})(?:[0-9A-Fa-f]{{1,4}})?(?::[0-9A-Fa-f]{{0,4}}){{2,8}}(?:\.\d{{1,3}}){{0,3}}"
    rf"(?!{_W}|:[0-9A-Fa-f:]|\.\d)"
)


def ipv6(match: re.Match[str]) -> Span | None:
    """A valid IPv6 address with at least one hex digit (a bare `::` is C++, not an address)."""
    text = match.group()
    if text.endswith(":") and not text.endswith("::"):
        text = text[:-1]  # "unreachable at 2001:db8::1: retrying": the colon is prose
    if not any(char.isalnum() for char in text):
        return None
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return match.start(), match.start() + len(text)


# -- iban -------------------------------------------------------------------------------------
IBAN = re.compile(
    rf"(?=[A-Za-z]{{2}}\d)(?<!{_W})[A-Za-z]{{2}}\d{{2}}"
    rf"(?:[ ]?[A-Za-z0-9]{{4}}){{2,7}}(?:[ ]?[A-Za-z0-9]{{1,4}})?(?!{_W})"
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
    seen = end = 0
    while seen < length:
        seen += text[end] != " "
        end += 1
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
# The body stops at the first `-----`, so a BEGIN never scans past the next marker.
PEM_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r"(?:(?:[^\-]++|-(?!----))*+-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|(?:[A-Za-z0-9+/=\s]++|\\n)*+)"
)
_KEY_NAMES = (
    r"client[_\-]?secret|secret[_\-]?(?:access[_\-]?)?key|access[_\-]?key(?:[_\-]?id)?|api[_\-]?key|apikey"
    r"|private[_\-]?key|(?:auth|access|refresh|bearer|session|csrf)[_\-]?token|password|passwd|passphrase"
    r"|pwd|secret|token|passwort|kennwort|mot de passe|contraseña|senha|hasło|lösenord|wachtwoord"
    r"|пароль|密码|密碼|パスワード|비밀번호"
)
# `key = value` / `"key": "value"` / `key: value`: only the value is redacted, so a reader still
# sees which credential leaked. The match starts at the key word, so `DB_PASSWORD` needs no
# prefix pattern (one would backtrack quadratically over long dotted strings). `==` is a
# comparison, not an assignment; a placeholder is no value (redacting twice changes nothing).
_PLACEHOLDER = r"(?!\[(?:EMAIL|PHONE|CARD|IP|IBAN|SECRET|SSN)\])"
# In prose the operator is a verb: "my password is Summer123!", "aws_secret_access_key is ...",
# "mein Passwort ist ...", "密码是...", "パスワードは..."; those values must look like a secret.
_PROSE_OP = (
    r"[ \t]+(?:is|was|ist|war|est|es|era|è|é|to|är|je)(?:[ \t]*:[ \t]*|[ \t]+)"
    r"|[ \t]*(?:是|为|為|は|는|은)[ \t]*"
)
SECRET_ASSIGNMENT = re.compile(
    rf"(?i)(?<![a-z0-9])(?:{_KEY_NAMES})[\"']?(?P<op>[ \t]*(?::|=(?!=))[ \t]*|{_PROSE_OP})"
    rf"(?:(?P<quote>[\"']){_PLACEHOLDER}(?P<quoted>[^\"'\r\n]{{1,256}})(?P=quote)"
    rf"|{_PLACEHOLDER}(?P<value>[^\s\"'`]*[^\s\"'`.,;:)\]}}>]))"
)
BEARER = re.compile(r"(?i)\bbearer[ \t]+(?P<value>[A-Za-z0-9._~+/\-]{20,}=*)(?![\w])")
_NOT_SECRETS = frozenset(
    ("none", "null", "nil", "true", "false", "undefined", "empty", "required", "optional", "redacted")
)
_CODE = re.compile(r"[A-Za-z_][\w.]*[(\[]")  # get_password(), os.environ[...]: code, not a value
_SECRET_SYMBOL = re.compile(r"[\d\W_]")


_KEY_START = re.compile(
    r"(?i)pass|secret|token|key|pwd|wort|woord|contraseña|senha|hasło|lösenord|пароль|密|パスワード|비밀번호"
).search


def _assignment_possible(text: str) -> object:
    """`key: value` needs a colon or `=`; prose ("my password is ...") needs a key word."""
    return ":" in text or "=" in text or _KEY_START(text)


def assignment(match: re.Match[str]) -> Span | None:
    """The value, if it looks like a credential and not like prose or a template.

    A quoted value or a tight `key=value` is taken as written (short of null-ish words and
    `${VAR}`-style references); after a colon or a spaced `=` it may be an English sentence
    ("password: please reset it"), so it needs a digit, a symbol or inner capitals.
    """
    quoted = match.group("quoted") is not None
    group = "quoted" if quoted else "value"
    value = match.group(group)
    if len(value) < 3 or value.lower() in _NOT_SECRETS or value[0] in "$%{<*":
        return None
    if set(value) <= set("*xX#.") or (not quoted and _CODE.match(value)):
        return None
    tight = match.group("op") == "="
    if not (quoted or tight):
        inner_capitals = any(char.isupper() for char in value[1:])
        if len(value) < 6 or not (_SECRET_SYMBOL.search(value) or inner_capitals):
            return None
    return match.span(group)


def bearer(match: re.Match[str]) -> Span | None:
    """`Authorization: Bearer <token>`: the token, when it has a digit (prose "bearer" has none)."""
    value = match.group("value")
    return match.span("value") if any(char.isdigit() for char in value) else None


# -- ssn (opt-in) -----------------------------------------------------------------------------
# A US Social Security number: 3-2-4 with dashes or spaces, or 9 digits behind "SSN". Never area
# 000, 666 or 9xx, group 00 or serial 0000 (SSA rules), so most 9-digit strings fail.
SSN = re.compile(
    rf"(?=\d)(?<![.,/#$€£¥\-])(?<!{_W})(?<!\d )"
    r"(?!000|666|9)\d{3}(?:(?P<sep>[ \-])(?!00)\d{2}(?P=sep)|(?!00)\d{2})"
    rf"(?!0000)\d{{4}}(?!{_W}|[.\-]\d| \d)"
)
_SSN_CUE = re.compile(r"(?i)(?:ssn|ss#|social security(?: number| no\.?)?|sozialversicherung\w*)\W{0,4}$")


def ssn(match: re.Match[str]) -> Span | None:
    """Grouped, the shape is enough; nine digits alone need "SSN" just before them."""
    if match.group("sep") is None and not _SSN_CUE.search(_context(match)):
        return None
    return match.span()


DETECTORS: tuple[Detector, ...] = (
    Detector("secret", PEM_KEY, whole, _any("-----BEGIN")),
    Detector(
        "secret",
        SECRET_TOKEN,
        whole,
        _any("AKIA", "ASIA", "gh", "github_pat_", "xox", "sk", "rk_", "AIza", "eyJ"),
    ),
    Detector("secret", SECRET_ASSIGNMENT, assignment, _assignment_possible),
    Detector("secret", BEARER, bearer, _any("earer", "EARER")),
    Detector("card", CARD, card, has_digit),
    Detector("iban", IBAN, iban, has_digit),
    Detector("email", EMAIL, whole, _any("@", "＠")),
    Detector("email", EMAIL_OBFUSCATED, whole, _OBFUSCATED_AT),
    Detector("ip", IPV4, ipv4, _any(".")),
    Detector("ip", IPV6, ipv6, _any(":")),
    Detector("phone", PHONE_INTL, phone_intl, _any("+", "00")),
    Detector("phone", PHONE_US, whole, has_digit),
    Detector("phone", PHONE_TRUNK, phone_trunk, _any("0")),
    Detector("phone", PHONE_NATIONAL, phone_national, has_digit),
    Detector("phone", PHONE_BARE, phone_bare, has_digit),
    Detector("ssn", SSN, ssn, has_digit),
)
