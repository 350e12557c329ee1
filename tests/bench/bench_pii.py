"""PII redaction quality per kind and locale, throughput, and a guard against regexes that
backtrack quadratically.

    .venv/bin/python tests/bench/bench_pii.py [--tickets 6000] [--records 20000] [--verbose]

Quality: support tickets generated here in 15 locales, each with a planted phone number in a
format people write there (national with and without the trunk 0, with and without separators,
international, glued to CJK text) and one other value (email, also full-width and `(at)`/`(dot)`
obfuscated; card, also JCB 1800/2131 and grouped with dots; IP; IBAN; a secret in prose; a US
SSN), plus a decoy that must survive (order numbers, ISBNs, versions, timestamps, amounts,
tracking ids, numbers failing Luhn or mod-97). Recall counts a value found when every letter and
digit of it is redacted; a decoy counts destroyed when any character of it is. ~1 s per 6,000.

Throughput: three inputs: the labeled tickets (short, most with PII), clean ~600-character paragraphs (what
most of a training set looks like) and adversarial 50,000-character strings (long runs of
digits, dots, colons, `@`, PEM markers) that a careless pattern turns into seconds per record.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter
from pathlib import Path

from llmops.pii.detect import ALL_KINDS, find_pii, redact

ROOT = Path(__file__).resolve().parents[2]
LABELED = ROOT / "tests" / "fixtures" / "pii" / "labeled.jsonl"
PARAGRAPH = (
    "the customer reported that our service was slow after the update and asked whether "
    "the invoice for march includes the new plan version 2.10.3 released on 2024-03-15 at "
    "14:30 with 1,299 users and order #A-10293 shipped total $1,299.00 please reset password"
)
WORDS = PARAGRAPH.split()
ADVERSARIAL = {
    "digits": "1" * 50_000,
    "grouped digits": "1234 " * 10_000,
    "dots": "1." * 25_000,
    "dotted words": "a.b.c.d." * 6_250,
    "at signs": "a@" * 25_000,
    "domain": "x@" + "a." * 25_000,
    "colons": "ab:" * 16_000,
    "pem markers": "-----BEGIN PRIVATE KEY-----\n" * 1_800,
    "jwt-ish": "eyJabc." * 7_000,
    "key words": "password token " * 3_300,
}


# -- quality: planted values and decoys in 15 locales ----------------------------------------------
def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _luhn_digit(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice(
        [
            ("4", 16),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("34", 15),
            ("37", 15),
            ("6011", 16),
            ("65", 16),
            ("3528", 16),
            ("3589", 16),
            ("1800", 15),
            ("2131", 15),
            ("36", 14),
            ("4", 13),
        ]
    )
    body = prefix + _digits(rng, length - len(prefix) - 1)
    number = body + _luhn_digit(body)
    sep = rng.choice(["", " ", "-", ".", " "])
    if not sep:
        return number
    if length == 15 and prefix in ("34", "37"):
        return sep.join((number[:4], number[4:10], number[10:]))
    return sep.join(number[i : i + 4] for i in range(0, length, 4))


def _bad_card(rng: random.Random) -> str:
    card = _card(rng)
    last = card[-1]
    return card[:-1] + str((int(last) + rng.randint(1, 9)) % 10)


def _bad_iban(rng: random.Random) -> str:
    """A valid IBAN with one digit of its account changed: mod-97 catches every such change."""
    iban = _iban(rng)
    at = max(i for i, char in enumerate(iban) if char.isdigit() and i > 4)
    return iban[:at] + str((int(iban[at]) + rng.randint(1, 9)) % 10) + iban[at + 1 :]


_BBANS = {
    "DE": "n18",
    "GB": "a4n14",
    "FR": "n10c11n2",
    "NL": "a4n10",
    "ES": "n20",
    "IT": "a1n10c12",
    "PL": "n24",
}


def _iban(rng: random.Random) -> str:
    country = rng.choice(list(_BBANS))
    bban = ""
    for kind, count in re.findall(r"([anc])(\d+)", _BBANS[country]):
        alphabet = {"a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "n": "0123456789", "c": "0123456789ABCDEFGHIJ"}[kind]
        bban += "".join(rng.choice(alphabet) for _ in range(int(count)))
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    compact = f"{country}{98 - number % 97:02d}{bban}"
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)) if rng.random() < 0.5 else compact


def _email(rng: random.Random) -> str:
    user = rng.choice(["jane", "bob", "li.wei", "m.rossi", "kim_j", "anna.k+shop", "tanaka77", "p.kowalski"])
    domain = rng.choice(["example.com", "mail.example.co.uk", "firma.de", "correo.es", "qq.com", "naver.com"])
    name, tld = domain.rsplit(".", 1)
    return rng.choice(
        [f"{user}@{domain}"] * 6
        + [f"{user}＠{domain}", f"{user} (at) {name} (dot) {tld}", f"{user}[at]{name}[dot]{tld}"]
    )


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    return (
        "2001:db8:"
        + ":".join(f"{rng.randint(0, 65535):x}" for _ in range(3))
        + "::"
        + f"{rng.randint(1, 999)}"
    )


def _ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    ssn = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    return ssn if rng.random() < 0.8 else ssn.replace("-", " ")


def _secret(rng: random.Random) -> tuple[str, str]:
    """A prose or key=value sentence and the value planted in it."""
    value = rng.choice(
        ["Summer123!", "Tr0ub4dor&3", "P@ssw0rd2024", "Winter#2023", "qwe123QWE!", "hunter2X9"]
    )
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + _digits(rng, 6)
    token = "ghp_" + "".join(rng.choice("abcdefghijkLMNOP0123456789") for _ in range(36))
    return rng.choice(
        [
            (f"my password is {value}", value),
            (f"the password was {value} btw", value),
            (f"aws_secret_access_key is {key}", key),
            (f"password={value}", value),
            (f"use token {token}", token),
        ]
    )


def _n(rng: random.Random, first: str, rest: int) -> str:
    return rng.choice(first) + _digits(rng, rest)


# Phone formats people write in each locale: national (with and without the trunk 0, with and
# without separators) and international. Each entry draws one number.
PHONES: dict[str, list] = {
    "en-US": [
        lambda r: f"({_n(r, '23456789', 2)}) {_n(r, '23456789', 2)}-{_digits(r, 4)}",
        lambda r: f"{_n(r, '23456789', 2)}-{_n(r, '23456789', 2)}-{_digits(r, 4)}",
        lambda r: f"{_n(r, '23456789', 2)}-{_n(r, '23456789', 2)}-{_digits(r, 4)}x{_digits(r, 4)}",
        lambda r: f"{_n(r, '23456789', 2)}.{_n(r, '23456789', 2)}.{_digits(r, 4)} ext. {_digits(r, 3)}",
        lambda r: f"+1-{_n(r, '23456789', 2)}-{_n(r, '23456789', 2)}-{_digits(r, 4)}",
        lambda r: f"001-{_n(r, '23456789', 2)}-{_n(r, '23456789', 2)}-{_digits(r, 4)}x{_digits(r, 3)}",
        lambda r: f"({_n(r, '23456789', 2)}){_n(r, '23456789', 2)}-{_digits(r, 4)}",
    ],
    "en-GB": [
        lambda r: f"020 {_n(r, '78', 3)} {_digits(r, 4)}",
        lambda r: f"07{_n(r, '123456789', 2)} {_digits(r, 6)}",
        lambda r: f"+44 7{_digits(r, 3)} {_digits(r, 6)}",
        lambda r: f"+44 (0)20 {_digits(r, 4)} {_digits(r, 4)}",
    ],
    "en-IN": [
        lambda r: f"{_n(r, '6789', 4)} {_digits(r, 5)}",
        lambda r: f"+91 {_n(r, '6789', 4)} {_digits(r, 5)}",
        lambda r: f"+91-{_n(r, '6789', 9)}",
        lambda r: f"{_n(r, '6789', 9)}",
    ],
    "de-DE": [
        lambda r: f"030 {_digits(r, 8)}",
        lambda r: f"0151 {_digits(r, 8)}",
        lambda r: f"+49 151 {_digits(r, 8)}",
        lambda r: f"0{_n(r, '23456789', 3)}/{_digits(r, 6)}",
    ],
    "fr-FR": [
        lambda r: "0" + r.choice("1234567") + " " + " ".join(_digits(r, 2) for _ in range(4)),
        lambda r: "+33 " + r.choice("67") + " " + " ".join(_digits(r, 2) for _ in range(4)),
        lambda r: "06." + ".".join(_digits(r, 2) for _ in range(4)),
    ],
    "es-ES": [
        lambda r: f"{_n(r, '67', 2)} {_digits(r, 3)} {_digits(r, 3)}",
        lambda r: f"+34 {_n(r, '67', 2)} {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)}",
        lambda r: f"9{_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)}",
    ],
    "it-IT": [
        lambda r: f"3{_digits(r, 2)} {_digits(r, 3)} {_digits(r, 4)}",
        lambda r: f"3{_digits(r, 9)}",
        lambda r: f"+39 3{_digits(r, 2)} {_digits(r, 7)}",
        lambda r: f"06 {_digits(r, 4)} {_digits(r, 4)}",
    ],
    "pl-PL": [
        lambda r: f"{_n(r, '5678', 2)} {_digits(r, 3)} {_digits(r, 3)}",
        lambda r: f"{_n(r, '5678', 2)}-{_digits(r, 3)}-{_digits(r, 3)}",
        lambda r: f"+48 {_n(r, '5678', 2)} {_digits(r, 3)} {_digits(r, 3)}",
        lambda r: f"{_n(r, '5678', 8)}",
    ],
    "sv-SE": [
        lambda r: f"07{r.choice('0236')}-{_digits(r, 3)} {_digits(r, 2)} {_digits(r, 2)}",
        lambda r: f"7{r.choice('0236')} {_digits(r, 3)} {_digits(r, 2)} {_digits(r, 2)}",
        lambda r: f"+46 7{r.choice('0236')} {_digits(r, 3)} {_digits(r, 2)} {_digits(r, 2)}",
        lambda r: f"08-{_digits(r, 3)} {_digits(r, 2)} {_digits(r, 2)}",
    ],
    "nl-NL": [
        lambda r: f"06-{_digits(r, 8)}",
        lambda r: f"06 {_digits(r, 8)}",
        lambda r: f"+31 6 {_digits(r, 8)}",
        lambda r: f"020-{_digits(r, 3)} {_digits(r, 4)}",
    ],
    "pt-BR": [
        lambda r: f"({_n(r, '123456789', 1)}) 9{_digits(r, 4)}-{_digits(r, 4)}",
        lambda r: f"{_n(r, '123456789', 1)} 9{_digits(r, 4)}-{_digits(r, 4)}",
        lambda r: f"+55 {_n(r, '123456789', 1)} 9{_digits(r, 4)} {_digits(r, 4)}",
        lambda r: f"(0{_n(r, '123456789', 1)}) {_digits(r, 4)}-{_digits(r, 4)}",
    ],
    "ko-KR": [
        lambda r: f"010-{_digits(r, 4)}-{_digits(r, 4)}",
        lambda r: f"+82 10-{_digits(r, 4)}-{_digits(r, 4)}",
        lambda r: f"10-{_digits(r, 4)}-{_digits(r, 4)}",
        lambda r: f"02-{_digits(r, 3)}-{_digits(r, 4)}",
    ],
    "ja-JP": [
        lambda r: f"090-{_digits(r, 4)}-{_digits(r, 4)}",
        lambda r: f"03-{_digits(r, 4)}-{_digits(r, 4)}",
        lambda r: f"+81 90-{_digits(r, 4)}-{_digits(r, 4)}",
    ],
    "zh-CN": [
        lambda r: f"1{r.choice('3456789')}{_digits(r, 9)}",
        lambda r: f"1{r.choice('3589')}{_digits(r, 1)} {_digits(r, 4)} {_digits(r, 4)}",
        lambda r: f"+86 1{r.choice('3589')}{_digits(r, 9)}",
        lambda r: f"010-{_digits(r, 8)}",
    ],
    "ru-RU": [
        lambda r: f"+7 9{_digits(r, 2)} {_digits(r, 3)}-{_digits(r, 2)}-{_digits(r, 2)}",
        lambda r: f"8 (9{_digits(r, 2)}) {_digits(r, 3)}-{_digits(r, 2)}-{_digits(r, 2)}",
        lambda r: f"8 9{_digits(r, 2)} {_digits(r, 3)} {_digits(r, 2)} {_digits(r, 2)}",
    ],
}
# Ticket sentences per locale; CJK ones glue values to the words around them, as people write.
SENTENCES: dict[str, dict[str, list[str]]] = {
    "en-US": {
        "phone": ["Call me at {v} after 5pm.", "My cell is {v}.", "Reach support on {v}, ticket closed."],
        "other": ["Customer wrote: {v} (please update the file).", "Details: {v}"],
    },
    "en-GB": {"phone": ["Ring me on {v} tomorrow.", "Mobile {v}, thanks."], "other": ["Note: {v} on file."]},
    "en-IN": {
        "phone": ["Please call {v} urgently.", "My number is {v} sir."],
        "other": ["Kindly check {v}."],
    },
    "de-DE": {
        "phone": ["Bitte rufen Sie mich unter {v} an.", "Handy: {v}"],
        "other": ["Angaben: {v} bitte prüfen."],
    },
    "fr-FR": {"phone": ["Appelez-moi au {v} svp.", "Mon portable : {v}"], "other": ["Voici {v} merci."]},
    "es-ES": {"phone": ["Llámame al {v} por favor.", "Mi móvil es {v}."], "other": ["Datos: {v} gracias."]},
    "it-IT": {
        "phone": ["Chiamami al {v} grazie.", "Il mio cellulare è {v}."],
        "other": ["Dati: {v} grazie."],
    },
    "pl-PL": {
        "phone": ["Proszę dzwonić pod numer {v}.", "Mój telefon: {v}"],
        "other": ["Dane: {v} dziękuję."],
    },
    "sv-SE": {
        "phone": ["Ring mig på {v} i kväll.", "Mitt mobilnummer är {v}."],
        "other": ["Uppgifter: {v} tack."],
    },
    "nl-NL": {"phone": ["Bel me op {v} aub.", "Mijn nummer is {v}."], "other": ["Gegevens: {v} bedankt."]},
    "pt-BR": {
        "phone": ["Me liga no {v} por favor.", "Meu celular é {v}."],
        "other": ["Dados: {v} obrigado."],
    },
    "ko-KR": {
        "phone": ["연락처는 {v}입니다.", "{v}로 전화 주세요."],
        "other": ["정보: {v} 확인 부탁드립니다."],
    },
    "ja-JP": {
        "phone": ["{v}までお電話ください。", "電話番号は{v}です。"],
        "other": ["詳細：{v}をご確認ください。"],
    },
    "zh-CN": {
        "phone": ["请拨打{v}联系我。", "我的手机号{v}，谢谢。"],
        "other": ["服务器{v}无法访问。", "信息：{v}请核实。"],
    },
    "ru-RU": {
        "phone": ["Позвоните мне по номеру {v}.", "Мой телефон {v}."],
        "other": ["Данные: {v} спасибо."],
    },
}
CARD_SENTENCES = [
    "order 7 {v} for the shoes",
    "card {v} exp 12/27",
    "卡号{v}已冻结",
    "カード番号{v}です",
    "Karte {v} bitte",
]
# Decoys that share a shape with PII and must survive redaction, by kind of look-alike.
DECOYS: dict[str, list] = {
    "order": [
        lambda r: f"Order #{_digits(r, 7)} shipped.",
        lambda r: f"order {_n(r, '123456789', 9)} confirmed",
        lambda r: f"Bestellnummer {_n(r, '123456789', 10)}",
        lambda r: f"订单号{_n(r, '23456789', 11)}已发货",
        lambda r: f"ref {_n(r, '123456789', 2)} {_digits(r, 3)} {_digits(r, 3)} {_digits(r, 3)}",
    ],
    "isbn": [
        lambda r: f"ISBN 978-{r.randint(0, 9)}-{_digits(r, 3)}-{_digits(r, 5)}-{r.randint(0, 9)}",
        lambda r: f"ISBN {r.choice(['978', '979'])}{_digits(r, 10)}",
        lambda r: f"ISBN 0-{_digits(r, 3)}-{_digits(r, 5)}-X",
    ],
    "version": [
        lambda r: f"upgraded to v{r.randint(1, 20)}.{r.randint(0, 30)}.{r.randint(0, 99)}",
        lambda r: f"version {r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 99)}.{r.randint(0, 9999)}",
        lambda r: f"build 2024.{r.randint(1, 12):02d}.{r.randint(1, 28):02d}.{r.randint(1, 9)}",
    ],
    "timestamp": [
        lambda r: (
            f"at 2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{_digits(r, 2)}:00"
        ),
        lambda r: f"ts={r.randint(1_600_000_000, 1_800_000_000)}",
        lambda r: f"epoch {r.randint(1_600_000_000_000, 1_800_000_000_000)}",
        lambda r: (
            f"am {r.randint(1, 28):02d}.{r.randint(1, 12):02d}.2024 um {r.randint(0, 23):02d}:{_digits(r, 2)}"
        ),
        lambda r: f"2024年{r.randint(1, 12)}月{r.randint(1, 28)}日{r.randint(0, 23)}时",
    ],
    "amount": [
        lambda r: f"total ${r.randint(1, 99)},{_digits(r, 3)}.{_digits(r, 2)}",
        lambda r: f"Summe {r.randint(1, 999)}.{_digits(r, 3)},{_digits(r, 2)} €",
        lambda r: f"koszt {r.randint(1, 999)} {_digits(r, 3)} {_digits(r, 3)} zł",
        lambda r: f"₹{r.randint(1, 99)},{_digits(r, 2)},{_digits(r, 3)}",
        lambda r: f"金额¥{r.randint(1, 99)},{_digits(r, 3)}",
        lambda r: f"R$ {r.randint(1, 999)}.{_digits(r, 3)},{_digits(r, 2)}",
    ],
    "tracking": [
        lambda r: f"tracking 1Z{_digits(r, 3)}AA1{_digits(r, 8)}",
        lambda r: (
            f"USPS 9400 {_digits(r, 4)} {_digits(r, 4)} {_digits(r, 4)} {_digits(r, 4)} {_digits(r, 2)}"
        ),
        lambda r: f"DHL {_digits(r, 10)}",
        lambda r: f"parcel {_digits(r, 12)} in transit",
    ],
    "product": [
        lambda r: f"SKU {_n(r, '123456789', 2)}-{_digits(r, 3)}-{_digits(r, 3)}",
        lambda r: f"EAN {_n(r, '4', 12)}",
        lambda r: f"ZIP {_n(r, '123456789', 4)}-{_digits(r, 4)}",
        lambda r: f"S/N {_n(r, '123456789', 2)} {_digits(r, 3)} {_digits(r, 3)}",
        lambda r: f"{r.randint(2, 9)} {_digits(r, 3)} {_digits(r, 3)} {_digits(r, 3)} units sold",
        lambda r: f"room {r.randint(100, 999)}, floor {r.randint(1, 40)}, {r.randint(10, 99)} guests",
    ],
    "bad checksum": [lambda r: f"card {_bad_card(r)} declined", lambda r: f"IBAN {_bad_iban(r)} ?"],
}
LOCALES = list(PHONES)


def generate(count: int, seed: int = 14) -> list[tuple[str, str, list[tuple[str, str]], list[str]]]:
    """(locale, text, [(kind, value), ...], [decoy texts that must survive]) per ticket."""
    rng = random.Random(seed)
    tickets = []
    others = {"email": _email, "card": _card, "ip": _ip, "iban": _iban, "ssn": _ssn}
    for index in range(count):
        locale = LOCALES[index % len(LOCALES)]
        sentences = SENTENCES[locale]
        labels: list[tuple[str, str]] = []
        parts = []
        phone = rng.choice(PHONES[locale])(rng)
        # One in five without a word that announces it, as in a signature.
        template = "— Anna K., {v}" if rng.random() < 0.2 else rng.choice(sentences["phone"])
        parts.append(template.format(v=phone))
        labels.append(("phone", phone))
        kind = rng.choice([*others, "secret"])
        if kind == "secret":
            sentence, value = _secret(rng)
        else:
            value = others[kind](rng)
            pool = CARD_SENTENCES if kind == "card" and rng.random() < 0.5 else sentences["other"]
            sentence = rng.choice(pool).format(v=value)
        parts.append(sentence)
        labels.append((kind, value))
        decoy_kind = rng.choice(list(DECOYS))
        decoy = rng.choice(DECOYS[decoy_kind])(rng)
        parts.insert(rng.randint(0, len(parts)), decoy + ".")
        tickets.append((locale, " ".join(parts), labels, [(decoy_kind, decoy)]))
    return tickets


def _covered(matches: list, start: int, end: int, text: str) -> bool:
    """Every letter and digit of text[start:end] lies inside some match: nothing of it is left."""
    spans = [(m.start, m.end) for m in matches if m.start < end and start < m.end]
    return all(any(a <= i < b for a, b in spans) for i in range(start, end) if text[i].isalnum())


def quality(count: int, kinds: tuple[str, ...]) -> dict:
    """Recall per kind and per locale (every character of the value redacted), and decoys destroyed
    (any character of the decoy redacted)."""
    found_by: dict[str, Counter] = {"kind": Counter(), "locale": Counter()}
    total_by: dict[str, Counter] = {"kind": Counter(), "locale": Counter()}
    decoys: Counter = Counter()
    destroyed: Counter = Counter()
    missed: list[tuple[str, str, str, str]] = []
    broken: list[tuple[str, str, str]] = []
    for locale, text, labels, decoy_list in generate(count):
        matches = find_pii(text, kinds)
        for kind, value in labels:
            if kind not in kinds:
                continue
            start = text.index(value)
            hit = _covered(matches, start, start + len(value), text)
            for axis, key in (("kind", kind), ("locale", f"{locale} {kind}" if kind == "phone" else locale)):
                total_by[axis][key] += 1
                found_by[axis][key] += hit
            if not hit:
                missed.append((locale, kind, value, text))
        for decoy_kind, decoy in decoy_list:
            start = text.index(decoy)
            decoys[decoy_kind] += 1
            if any(m.start < start + len(decoy) and start < m.end for m in matches):
                destroyed[decoy_kind] += 1
                broken.append((decoy_kind, decoy, text))
    return {
        "found": found_by,
        "total": total_by,
        "decoys": decoys,
        "destroyed": destroyed,
        "missed": missed,
        "broken": broken,
    }


def print_quality(count: int, kinds: tuple[str, ...], verbose: bool) -> None:
    result = quality(count, kinds)
    found, total = result["found"], result["total"]
    print(f"quality on {count} generated tickets in {len(LOCALES)} locales (kinds: {', '.join(kinds)})")
    for kind in sorted(total["kind"]):
        print(f"  recall {kind:7} {found['kind'][kind] / total['kind'][kind]:.3f}  of {total['kind'][kind]}")
    for key in sorted(k for k in total["locale"] if k.endswith(" phone")):
        print(
            f"  recall {key:14} {found['locale'][key] / total['locale'][key]:.3f}  of {total['locale'][key]}"
        )
    all_decoys, all_destroyed = sum(result["decoys"].values()), sum(result["destroyed"].values())
    print(f"  decoys destroyed {all_destroyed}/{all_decoys} ({all_destroyed / all_decoys:.2%})")
    for kind in sorted(result["decoys"]):
        print(f"    {kind:13} {result['destroyed'][kind]}/{result['decoys'][kind]}")
    if verbose:
        for locale, kind, value, text in result["missed"][:80]:
            print(f"  missed {locale} {kind}: {value!r} in {text!r}")
        for kind, decoy, text in result["broken"][:40]:
            print(f"  destroyed {kind}: {decoy!r} in {text!r}")


def rate(texts: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    for text in texts:
        redact(text)
    elapsed = time.perf_counter() - start
    return len(texts) / elapsed, sum(map(len, texts)) / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000, help="records for the throughput runs")
    parser.add_argument("--tickets", type=int, default=6_000, help="generated tickets for recall")
    parser.add_argument("--verbose", action="store_true", help="list missed values and destroyed decoys")
    args = parser.parse_args()
    records = args.records
    print_quality(args.tickets, ALL_KINDS, args.verbose)
    rng = random.Random(0)
    tickets = [json.loads(line)["text"] for line in LABELED.read_text(encoding="utf-8").splitlines()]
    tickets = [rng.choice(tickets) for _ in range(records)]
    clean = [" ".join(rng.choice(WORDS) for _ in range(100)) for _ in range(records // 4)]
    for name, texts in (("labeled tickets", tickets), ("clean paragraphs", clean)):
        per_second, mb = rate(texts)
        print(f"{name:18} {per_second:10,.0f} records/s  {mb:6.2f} MB/s")
    for name, text in ADVERSARIAL.items():
        start = time.perf_counter()
        redact(text)
        elapsed = time.perf_counter() - start
        flag = "  <- too slow" if elapsed > 0.5 else ""
        print(f"adversarial {name:15} {len(text):7,} chars {1000 * elapsed:8.1f} ms{flag}")


if __name__ == "__main__":
    main()
