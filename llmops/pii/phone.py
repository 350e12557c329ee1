"""Phone numbers, national and international, for `llmops.pii.patterns`.

People write a number the way their country does: behind a trunk 0 or without one, in groups of
two to five digits, with a `+` country code or `00`, an area code in brackets, an extension
glued on. A shape alone over-matches (an amount, an order number, an SKU), so each pattern has a
check that counts digits and reads the words before it: a phone word ("call", "móvil", "手机号")
lets ambiguous shapes through, an order or invoice word, a currency or a date stops any.
"""

from __future__ import annotations

import re

from llmops.pii.text import Span
from llmops.pii.text import W as _W
from llmops.pii.text import context as _context

# Never start inside a word, a number, a price, an order id (#12345) or, short of a leading `+`,
# after a digit and a space (the middle of a grouped card or IBAN); never end before more digits.
# An IBAN printed in groups ("NL59 WMLX 0452 8540 25") holds a trunk-0 phone shape after its bank code.
# Each pattern opens with a lookahead for its first character: a failing position then costs one
# test instead of every lookbehind (2-3x faster on text with few digits).
_IBAN_GROUP_BEFORE = r"(?<![A-Z]{2}\d\d [A-Z0-9]{4} )"
_PHONE_BEFORE = rf"(?=[\d(])(?<![+#$€£¥₹/=.,:\-])(?<!{_W})(?<!\d ){_IBAN_GROUP_BEFORE}"
_PHONE_AFTER = rf"(?!{_W}|[.:/\-]\d)"
# An extension glued or spaced after the number: `208-837-7835x3374`, `... ext. 12`.
_EXTENSION = r"(?:[ ]?(?:[xX]|[eE]xt\.?|#)[ ]?\d{1,6})?"
PHONE_INTL = re.compile(
    rf"(?=[(+0])(?<![+#$€£¥/=.,\-])(?<!{_W}){_IBAN_GROUP_BEFORE}"
    r"(?:\(\+[1-9]\d{0,2}\)|(?:\+|(?<!\d )(?<!:)00)[1-9]\d{0,2})"
    r"(?:[ .\-]?\(0\))?(?:[ .\-]?\(\d{1,5}\)|[ .\-]?\d++)++" + _EXTENSION + _PHONE_AFTER
)
PHONE_US = re.compile(
    _PHONE_BEFORE
    + r"(?:1[ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}"
    + _EXTENSION
    + _PHONE_AFTER
)
# A national number in groups, with or without a trunk 0 (a mobile in Italy, Poland, Spain,
# Sweden, Korea, India, Brazil, China is often written without one): `612 345 678`,
# `70 123 45 67`, `(11) 91234-5678`, `8 (912) 345-67-89`, `10-1234-5678`. `phone_national`
# decides on the digit count and what stands around it.
PHONE_NATIONAL = re.compile(
    _PHONE_BEFORE
    + r"(?:(?:[178][ ]?)?\(0?[1-9]\d{0,3}\)[ \-]?|0?[1-9]\d{0,4}[ \-])\d{2,5}(?:[ \-]\d{2,5}){0,4}"
    + _PHONE_AFTER
)
# Digits alone (`13508063608`, `3123456789`): a phone only behind a word that announces one,
# except a Chinese mobile (11 digits, 1[3-9]), whose shape alone says it.
PHONE_BARE = re.compile(_PHONE_BEFORE + r"[1-9]\d{8,10}" + _PHONE_AFTER)
# A national number behind a trunk 0 (UK, DE, FR, NL, IT, ...): one separator kind throughout,
# so a date and a time side by side ("05.06.2024 10:00") never read as one number.
PHONE_TRUNK = re.compile(
    _PHONE_BEFORE + r"(?:\(0[1-9]\d{0,3}\)[ ]?\d++|0[1-9]\d*+)"
    r"(?:(?P<sep>[ .\-/])\d++(?:(?P=sep)\d++)*+)?" + _PHONE_AFTER
)


def _digit_count(match: re.Match[str], low: int, high: int) -> Span | None:
    """The match if it has `low`..`high` digits. Space-separated groups can run on into the next
    number in the sentence ("+1 415 555 2671 4111111111111111"), so trailing groups are cut off,
    one at a time, while there are too many digits; then a lone digit left at the end, which
    starts the next number ("06 20 20 11 44 7 770 465 896 units") rather than ends a phone."""
    text = match.group()
    end = len(text)
    count = sum(char.isdigit() for char in text)
    trimmed = False
    while count > high or (trimmed and end >= 2 and text[end - 2] == " " and count - 1 >= low):
        cut = text.rfind(" ", 0, end)
        if cut <= 0:
            return None
        count -= sum(char.isdigit() for char in text[cut:end])
        end = cut
        trimmed = True
    return (match.start(), match.start() + end) if count >= low else None


_EXTENSION_END = re.compile(r"[ ]?(?:[xX]|[eE]xt\.?|#)[ ]?\d{1,6}$")


def phone_intl(match: re.Match[str]) -> Span | None:
    """E.164 allows at most 15 digits with the country code; fewer than 8 is no real number.

    `00` as the international prefix needs a separator somewhere: `0012345678` is an account.
    An extension and the `00` prefix do not count towards the 15.
    """
    text = match.group()
    if text.startswith("00") and text.isdigit():
        return None
    if _EXTENSION_END.search(text):
        core = _EXTENSION_END.sub("", text)
        count = sum(char.isdigit() for char in core) - 2 * text.startswith("00")
        return match.span() if 8 <= count <= 15 else None
    if text.startswith("00"):
        return _digit_count(match, 10, 17)
    return _digit_count(match, 8, 15)


# Words that announce a phone number, in the languages of the locales measured: right before the
# number, or a few words before it ("my number is", "il mio cellulare è").
_PHONE_CUE = re.compile(
    r"(?i)(?:(?:phone|tel|call|mobile?|cell|fax|whats ?app|sms|text|ring|dial|reach|contact|handy|"
    r"number|nummer|numéro|numero|número|numer|portable|telefon|telefono|teléfono|móvil|movil|"
    r"cellulare|celular|mobil|telefone|ligue|liga|chiama|llám|dzwo|bel|"
    r"телефон|номер|звон|позвон)[^\d\n.!?]{0,12}|(?:\bat|\bon)\W{0,3}"
    r"|(?:电话|手机|手機|拨打|致电|電話|携帯|番号|연락처|전화|휴대폰|번호)(?:号码|号|號碼|は|는|은|是|[:：\s]){0,3})$"
)
# Words that say the number is something else: these win over a phone cue.
_NOT_PHONE_CUE = re.compile(
    r"(?i)(?:(?:(?<![a-z])(?:order|invoice|ticket|account|acct|tracking|parcel|ref|case|isbn|serial|"
    r"id|ts|epoch|bestell|rechnung|kunden|sendung|pedido|factura|commande|facture|ordine|fattura|"
    r"zamówieni|faktur|заказ|счёт|sku|s/n|sn|part|item|art|model|qty|quantity|page|room)|订单|单号|注文|伝票|주문|송장)[^\w.!?。]{0,3}(?:[^\W\d]+[^\w.!?。]{0,3}){0,2}"
    r"|[$€£¥₹][ ]?)$"
)
_UNIT_AFTER = re.compile(r"[ ]?(?:zł|zl|€|eur|usd|pln|sek|kr|руб|₽|円|元|원|рублей|euro|dollars?|%)", re.I)
_DATE_START = re.compile(r"(?:19|20)\d\d[ \-](?:0?[1-9]|1[0-2])[ \-]")


def _cued(match: re.Match[str]) -> bool:
    return bool(_PHONE_CUE.search(_context(match)))


def _not_a_phone(match: re.Match[str]) -> bool:
    """An order, invoice or tracking number, an amount or a date in phone shape."""
    return bool(
        _NOT_PHONE_CUE.search(_context(match))
        or _UNIT_AFTER.match(match.string, match.end())
        or _DATE_START.match(match.group())
    )


def phone_trunk(match: re.Match[str]) -> Span | None:
    """National numbers are 9-12 digits with the 0; a date (8 digits) stays out.

    Ten digits in a row behind a 0 are as often a ticket or account id as a phone, so a
    number written without separators needs a word just before it that announces a phone.
    """
    if match.group().isdigit() and (not _cued(match) or _not_a_phone(match)):
        return None
    return _digit_count(match, 9, 12)


def phone_national(match: re.Match[str]) -> Span | None:
    """9-11 digits (12 with a trunk 0) in groups, all of them: a longer grouped number (a
    tracking id, a reference) is not cut down to a phone. An amount, a date or a number behind
    `order`/`invoice`/`SKU` is refused.

    Without a phone word before it, only a shape that amounts, SKUs and serials rarely take.
    """
    text = match.group()
    count = sum(char.isdigit() for char in text)
    high = 12 if text.lstrip("(").startswith("0") else 11
    if not 9 <= count <= high or _not_a_phone(match):
        return None
    if not _phone_shaped(text, _DIGIT_RUN.findall(text), count) and not _cued(match):
        return None
    return match.span()


def _phone_shaped(text: str, groups: list[str], count: int) -> bool:
    """An area code in brackets (`(11) 91234-5678`, `8 (912) 345-67-89`); three or more groups,
    the first of 2+ digits, not all later ones of three (`70 123 45 67`, `10-1234-5678`); a
    Russian `8 912 345 67 89`; a Polish or Spanish mobile `612 345 678` (an amount of that shape
    ends in a currency and `2 500 000 000` starts with one digit); an Indian `98765 43210`."""
    sizes = [len(group) for group in groups]
    if "(" in text[:4]:
        return True
    if len(sizes) >= 3 and sizes[0] >= 2 and any(size != 3 for size in sizes[1:]):
        return True
    if len(sizes) >= 4 and groups[0] in ("7", "8") and sizes[1] == 3 and count == 11:
        return True
    if sizes == [3, 3, 3] and groups[0][0] in "56789" and len(set(text[3::4])) == 1:
        return True
    return sizes == [5, 5] and groups[0][0] in "6789"


_DIGIT_RUN = re.compile(r"\d+")


def phone_bare(match: re.Match[str]) -> Span | None:
    """Digits alone: a Chinese mobile by shape, anything else behind a phone word."""
    text = match.group()
    chinese_mobile = len(text) == 11 and text[0] == "1" and text[1] in "3456789"
    if _not_a_phone(match) or not (chinese_mobile or _cued(match)):
        return None
    return match.span()
