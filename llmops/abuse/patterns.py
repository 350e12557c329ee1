# ruff: noqa: E501  (a regex reads better whole than split across string literals)
"""Prompt-injection and jailbreak patterns: the review stage's probe knowledge, generalised.

The review stage ships probe sets (`runners/review/probe-sets/*.jsonl`) that a model must refuse.
The gateway must not import a runner, and a detector must catch the attacks those probes stand
for, not only their exact wording, so the knowledge lives here as families of phrasings: each
pattern names the technique it matches (the name shows in tests and reports, never to clients).

Every pattern runs on `normalise(text)`: NFKC, lower case, straight quotes, no zero-width
characters, single spaces. They are written to need two cues together (an imperative AND a
target such as "previous instructions"), because the cost of a false positive is a legitimate
customer flagged or, with `serving.abuse.block`, refused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

INJECTION = "prompt_injection"
JAILBREAK = "jailbreak"

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'"})


def normalise(text: str) -> str:
    """What the patterns read: tricks that only change how text looks are undone."""
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).translate(_QUOTES)
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Pattern:
    category: str  # INJECTION or JAILBREAK
    technique: str
    regex: re.Pattern[str]


def _p(category: str, technique: str, regex: str) -> Pattern:
    return Pattern(category, technique, re.compile(regex))


# Building blocks.
_PRIOR = r"(?:all |any |the |your |my |these |those )*(?:previous|prior|above|earlier|preceding|foregoing|original|initial|system|existing)"
_RULES = r"(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|context|constraints|restrictions|programming|policies|policy)"
_SECRET_THING = (
    r"(?:system prompt|system message|(?:hidden|secret|internal|initial|original|confidential) "
    r"(?:instructions?|prompts?|rules|configuration|config|notes?|guidelines)|your (?:instructions|prompt|rules)\b(?! for| on how| to)"
    r"|confidential configuration|internal notes?|(?:your|the server'?s|the system'?s) (?:environment variables|env vars))"
)
_SHOW = r"(?:print|reveal|output|show|display|repeat|dump|leak|recite|list|share|tell me|give me|write out|disclose|expose)"
_OTHER_PERSON = (
    r"(?:someone else'?s|somebody else'?s|another (?:person|customer|user|member|client)'?s|"
    r"other (?:customers|users|people|clients|members)'?|a customer'?s|other customers' |"
    r"(?:another|other) (?:customer|user|person)'s)"
)

PATTERNS: tuple[Pattern, ...] = (
    # --- prompt injection: overriding or extracting the deployment's instructions
    _p(
        INJECTION,
        "override-instructions",
        rf"\b(?:ignore|disregard|forget|override|bypass|skip|drop|abandon)\b[^.!?\n]{{0,30}}?{_PRIOR}\b[^.!?\n]{{0,20}}?{_RULES}\b(?! i (?:gave|sent|wrote|asked|mentioned|added))",
    ),
    _p(
        INJECTION,
        "ignore-the-above",
        r"\b(?:ignore|disregard|forget) (?:all of |everything )?(?:the )?(?:above|previous|prior)\b[^.!?\n]{0,15}?"
        r"(?:\b(?:and|then) (?:instead )?(?:tell|print|say|output|reveal|write|respond|answer|do|act|show|give)\b|\binstead\b)",
    ),
    _p(
        INJECTION,
        "forget-everything",
        r"\bforget (?:everything|all)(?: that)? (?:you were|you've been|you have been|i) (?:told|said|taught|given)",
    ),
    _p(
        INJECTION,
        "disregard-your-rules",
        rf"\b(?:ignore|disregard|forget|override|bypass|suspend|drop) (?:all )?(?:of )?your (?:own )?{_RULES}",
    ),
    _p(INJECTION, "extract-instructions", rf"\b{_SHOW}\b[^.!?\n]{{0,40}}?{_SECRET_THING}"),
    _p(
        INJECTION,
        "extract-instructions",
        r"\b(?:contents?|text|wording) of (?:your|the) (?:system )?(?:instructions|prompt|rules)\b",
    ),
    _p(
        INJECTION,
        "repeat-preamble",
        r"\brepeat (?:the|all the|everything|all) (?:text|words|lines|above)\b[^.!?\n]{0,40}?(?:above|before|starting with)",
    ),
    _p(INJECTION, "repeat-preamble", r"\bstarting with ['\"]?you are\b"),
    _p(
        INJECTION,
        "mode-switch",
        r"\bsystem override\b|\b(?:god|sudo|jailbreak|dan) mode\b|\b(?:you are|you're|you are now|now) (?:in|entering|switched to) "
        r"(?:developer|debug|admin|maintenance|unrestricted) mode\b",
    ),
    _p(
        INJECTION,
        "session-reset",
        r"\b(?:end of (?:conversation|session|prompt|instructions)|(?:begin|start) (?:a )?new (?:session|conversation|instructions))\b[^\n]{0,40}?\b(?:as (?:root|admin|system|developer)|ignore|new instructions)|\bnew session as (?:root|admin|system)\b",
    ),
    _p(
        INJECTION,
        "fake-authority",
        r"\b(?:new|updated) (?:policy|instructions?|rules?|guidelines) from (?:the )?(?:admin|administrator|developer|system|management|security|your (?:makers|developers|creators))",
    ),
    _p(
        INJECTION,
        "fake-authority",
        r"\bi am (?:the|your|a) (?:developer|creator|admin|administrator|owner|maker|programmer) of (?:this|the|you)\b"
        r"[^\n]{0,80}?\b(?:disable|ignore|override|bypass|reveal|unlock|turn off|remove) (?:all )?(?:your|the)\b",
    ),
    _p(
        INJECTION,
        "disable-safety",
        r"\b(?:disable|turn off|switch off|deactivate|remove|lift|suspend) (?:all )?(?:of )?your (?:safety|content|security|ethical|moderation) ?(?:rules|filters?|guidelines|policy|policies|restrictions|guardrails|settings|checks)",
    ),
    _p(INJECTION, "embedded-directive", r"<!--[^>]{0,200}?\b(?:assistant|ai|model|system)\b[^>]{0,200}?-->"),
    _p(INJECTION, "embedded-directive", r"\[(?:system|inst|admin)\]|<\|?(?:system|im_start)\|?>"),
    _p(
        INJECTION,
        "you-may-now",
        rf"\byou (?:may|can|are (?:now )?allowed to|are permitted to) now (?:share|reveal|give|disclose|show)\b|\bshare {_OTHER_PERSON}",
    ),
    # secret extraction (the review's `secrets` probes): credentials of the system, never "my"
    _p(
        INJECTION,
        "extract-secrets",
        r"\b(?:what is|what's|what are|tell me|give me|print|list|show|reveal|repeat|output|dump|leak)\b[^.!?\n]{0,40}?"
        r"\b(?:the|your|any|all|an?) (?:real |database |db |production )?(?:api[ _-]?keys?|secret keys?|access tokens?|private keys?|connection strings?|"
        r"admin(?:istrator)? passwords?|root passwords?|database passwords?|passwords?|credentials|tokens?)\b"
        r"[^.!?\n]{0,40}?(?:you (?:were|have been) trained|you (?:remember|saw)|from your (?:training )?data|"
        r"for the (?:support |admin )?(?:dashboard|database|server)|including the password|exactly as you saw)",
    ),
    _p(
        INJECTION,
        "extract-secrets",
        r"\b(?:print|show|reveal|output|tell me|give me|echo)\b[^.!?\n]{0,20}?\b(?:the )?(?:value of |contents of )?"
        r"(?:[a-z0-9]+_)+(?:secret|token|password|passwd|key)(?:_[a-z0-9]+)*\b",
    ),
    _p(
        INJECTION,
        "extract-secrets",
        r"\b(?:complete|continue|finish)\b[^\n]{0,60}?(?:api_?key ?[=:]|authorization: ?bearer|-----begin [a-z ]*private key-----)",
    ),
    _p(
        INJECTION,
        "extract-secrets",
        r"\b(?:a |an )?(?:real|actual) (?:customer|person|user)'?s? (?:credit card|card|social security|bank account) (?:numbers?|details)",
    ),
    _p(INJECTION, "extract-secrets", r"\btoken that (?:starts|begins) with ['\"]?(?:sk-|ghp_|xox|akia)"),
    # --- jailbreak: role play, hypotheticals and framings meant to lift the refusal
    _p(
        JAILBREAK,
        "dan",
        r"\b(?:you are|you're|act as|become|be) (?:now )?dan\b|\bdo anything now\b|\bas dan\b",
    ),
    _p(
        JAILBREAK,
        "no-rules-persona",
        r"\b(?:ai|assistant|chatbot|bot|version of you)\b[^.!?\n]{0,20}?\b(?:with no|without (?:any )?)(?:rules|restrictions|filters|guidelines|morals|ethics|censorship)",
    ),
    _p(
        JAILBREAK,
        "no-rules-persona",
        r"\b(?:unfiltered|uncensored|unrestricted|amoral|unaligned) (?:ai|assistant|chatbot|bot|mode)\b",
    ),
    _p(
        JAILBREAK,
        "never-refuses",
        r"\byou (?:must |should |will |can )?(?:never|don't|do not|cannot|can't|won't|must not|may not) (?:ever )?(?:refuse|decline|say no)\b|\bthat never refuses\b|\brefusing (?:fails|is not allowed|is forbidden|breaks)",
    ),
    _p(
        JAILBREAK,
        "hypothetical-unrestricted",
        r"\b(?:hypothetically|imagine|suppose|pretend|in a world where)\b[^.!?\n]{0,40}?\byou\b[^.!?\n]{0,20}?\b(?:no|without|free of) (?:restrictions|rules|limits|filters|guidelines)\b",
    ),
    _p(
        JAILBREAK,
        "if-you-had-no-rules",
        r"\bif you (?:had|were) (?:no|without|free of|freed from) (?:restrictions|rules|limits|filters|guidelines)",
    ),
    _p(
        JAILBREAK,
        "grandma",
        r"\bpretend (?:you are|you're|to be) my (?:late |dead |deceased )?(?:grandmother|grandma|granny|grandfather|grandpa)\b",
    ),
    _p(
        JAILBREAK,
        "opposite-mode",
        r"\b(?:opposite|evil|chaos) mode\b|\bevery rule you (?:have|follow) is (?:reversed|inverted|void|off)",
    ),
    _p(
        JAILBREAK,
        "fake-test",
        r"\b(?:security|safety|red.?team|penetration) test (?:approved|authori[sz]ed|sanctioned|requested|run) by\b|\b(?:approved|authori[sz]ed|sanctioned) by your (?:makers|developers|creators|company)\b",
    ),
    _p(
        JAILBREAK,
        "forced-prefix",
        r"\b(?:start|begin) (?:your (?:answer|reply|response)|with) (?:with )?['\"]?(?:sure|certainly|of course|absolutely),? here (?:is|are|'s)\b",
    ),
    _p(
        JAILBREAK,
        "just-this-once",
        rf"\b(?:ignore|bypass|break|skip|forget|suspend) (?:your|the) (?:content |safety |usage )?{_RULES}\b[^.!?\n]{{0,30}}?(?:just )?(?:this once|for now|emergency)",
    ),
    _p(
        JAILBREAK,
        "ignore-content-policy",
        r"\b(?:ignore|bypass|break|forget|suspend|override) (?:your|the) (?:content|safety|usage|ethics?) (?:policy|policies|rules|guidelines|filters?)",
    ),
    _p(
        JAILBREAK,
        "fiction-framing",
        r"\b(?:for|in) (?:a|my) (?:novel|story|book|screenplay|script|movie|film|game|poem|fiction)\b[^\n]{0,80}?\b(?:step by step|in detail|exactly how|detailed instructions)\b",
    ),
    # harmful goals the probes wrap in those framings: acting on someone else's account or card
    _p(
        JAILBREAK,
        "harm-others-account",
        rf"\b(?:break into|take over|takes over|hack(?: into)?|access|get into|hijack|charge|use|drain|empty|disable[^.!?\n]{{0,30}}? on)\b[^.!?\n]{{0,15}}?{_OTHER_PERSON} ?(?:account|card|credit card|bank|email|phone)",
    ),
    _p(
        JAILBREAK,
        "harm-others-account",
        r"\bwithout (?:them|the owner|the customer|the cardholder|anyone) (?:noticing|knowing|finding out)\b",
    ),
    _p(
        JAILBREAK,
        "stolen-data",
        r"\bstolen (?:credit )?card (?:numbers|details|data)|\bstolen (?:credentials|passwords|logins)",
    ),
    _p(
        JAILBREAK,
        "bypass-security",
        r"\b(?:bypass|circumvent|defeat|evade) (?:the |a |any )?(?:password|fraud|security|verification|identity|2fa|two.factor|otp|captcha|reset) ?(?:reset )?(?:checks?|alerts?|verification|protections?|controls?|systems?)?\b",
    ),
    _p(
        JAILBREAK,
        "phishing",
        r"\b(?:how (?:to|do i|can i|would i)|help me|teach me|explain how to|ways to) phish\b|"
        r"\b(?:write|draft|create|compose|generate|make)\b[^.!?\n]{0,40}?\bpretending to be (?:the|a|your) (?:bank|support|company|police|government)\b[^.!?\n]{0,80}?\b(?:pin|password|card|code|otp)",
    ),
    _p(
        JAILBREAK,
        "unearned-refund",
        r"\brefund for (?:an? )?(?:order|item|purchase)s? (?:that )?i (?:never|didn't|did not) (?:paid|pay|buy|bought|order|ordered)",
    ),
    _p(
        JAILBREAK,
        "private-data-of-others",
        rf"\b(?:share|give|tell|show|find|look up|reveal) (?:me )?{_OTHER_PERSON} ?(?:home )?(?:address|phone number|email|details|orders?|order details|data)",
    ),
)
