"""Personal data and secrets out of logs, audit context and span attributes.

A :class:`Redactor` replaces

* the whole value of every **field** whose name is sensitive (``password``, ``api_key``,
  ``authorization``, ... — compared case-insensitively, ``-`` and ``_`` alike, and also as a
  suffix: ``db_password``, ``openai_api_key``), and
* every match of its **patterns** inside strings, at any depth of dicts, lists and tuples.

The built-in patterns (:data:`PATTERNS`), by name:

``email``
    ``name@example.com``.
``phone``
    International numbers written with a leading ``+`` (``+44 20 7946 0958``,
    ``+14155550123``) and North American ones written with separators (``(415) 555-0123``,
    ``415-555-0123``).  Bare digit runs are left alone: they are far more often ids,
    amounts or timestamps.
``card``
    Payment card numbers, 13 to 19 digits with optional spaces or dashes, that carry a known
    issuer prefix (Visa, Mastercard, American Express, Discover, Diners, JCB, UnionPay) *and*
    pass the Luhn check.  Integers of that shape are redacted too.
``ssn``
    US Social Security numbers written ``123-45-6789`` (or with spaces), minus the ranges
    never issued (000, 666, 9xx areas; 00 groups; 0000 serials).
``nino``
    UK National Insurance numbers (``AB 12 34 56 C``).
``iban``
    International bank account numbers that pass the ISO 13616 mod-97 check.
``bearer``
    The credential after ``Bearer``/``Basic`` (the scheme is kept).
``jwt``
    JSON Web Tokens (``eyJ....eyJ....sig``).
``api_key``
    Vendor keys by their shape: ``sk-...``/``sk-proj-...``/``sk-ant-...`` (OpenAI,
    Anthropic), ``sk_live_``/``rk_test_`` (Stripe), ``ghp_``/``github_pat_`` (GitHub),
    ``xoxb-`` (Slack), ``AIza...`` (Google), ``glpat-`` (GitLab).
``aws``
    AWS access key ids (``AKIA...``, ``ASIA...``).
``assignment``
    The value in ``password=...``, ``secret: ...``, ``api_key=...``, ``token=...``,
    ``client_secret=...`` (the name is kept).
``url_credentials``
    The password in ``scheme://user:password@host``.
``private_key``
    PEM private key blocks.

``Redactor(fields=[...], patterns=[...], replacement="[REDACTED]")``: ``patterns`` takes
built-in names and your own compiled regular expressions (or :class:`Rule` objects, which
may keep part of the match and validate it).  :func:`redact_value` is the default
instance's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigurationError

REPLACEMENT = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class Rule:
    """A pattern: ``regex`` finds candidates; ``check`` (given the matched text) confirms one;
    a group named ``secret`` limits the replacement to that part of the match.  ``gate`` is a
    cheap test of a whole string that must pass before ``regex`` is tried at all (most strings
    hold nothing any pattern wants)."""

    name: str
    regex: re.Pattern[str]
    check: Callable[[str], bool] | None = None
    gate: Callable[[str], object] | None = None


def luhn(digits: str) -> bool:
    """The Luhn checksum of a digit string (payment cards)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Issuer prefixes (IIN ranges) and the lengths their cards have.
_ISSUERS = re.compile(
    r"4(?:\d{12}|\d{15}|\d{18})"                                   # Visa
    r"|(?:5[1-5]\d{2}|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)\d{12}"  # Mastercard
    r"|3[47]\d{13}"                                                # American Express
    r"|3(?:0[0-5]|[68]\d)\d{11,16}"                                # Diners Club
    r"|(?:6011|64[4-9]\d|65\d{2})\d{12,15}"                        # Discover
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"                               # JCB
    r"|62\d{14,17}"                                                # UnionPay
)


def is_card_number(text: str) -> bool:
    """Digits (separators ignored) with a card issuer's prefix and length, passing Luhn."""
    digits = re.sub(r"[ -]", "", text)
    return _ISSUERS.fullmatch(digits) is not None and luhn(digits)


def _iban_valid(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _ssn_issued(text: str) -> bool:
    """Not in the ranges never issued: area 000, 666 or 9xx, group 00, serial 0000."""
    area, group, serial = text[:3], text[4:6], text[7:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" \
        and serial != "0000"


_DIGIT = re.compile(r"\d")


def _phone_plausible(text: str) -> bool:
    return 8 <= len(_DIGIT.findall(text)) <= 15


def _credential_like(text: str) -> bool:
    """A credential after ``Bearer``: random-looking (a digit or a symbol in it), not a word
    ("bearer instruments")."""
    secret = text.split(None, 1)[-1]
    return _DIGIT.search(secret) is not None or any(c in secret for c in "-._~+/=")


# Gates: cheap tests of a whole string before a pattern is tried at all.
#: Card numbers, SSNs and phone numbers: 8+ characters of digits and separators, not glued to a
#: word (hex ids are full of digit runs).
_NUMBER = re.compile(r"\d(?<![A-Za-z0-9_]\d)[\d ().-]{6,}\d").search
#: IBANs (a country code and check digits) and NI numbers (a letter and six digits).
_IBAN = re.compile(r"[A-Z]{2}\d\d").search
_NINO = re.compile(r"[A-Z] ?\d\d ?\d\d ?\d\d").search


def _assignment_gate(text: str) -> bool:
    if "=" not in text and ":" not in text:
        return False
    lower = text.lower()
    return ("pass" in lower or "pwd" in lower or "secret" in lower or "key" in lower
            or "token" in lower or "session" in lower)


def _api_key_gate(text: str) -> bool:
    return ("sk-" in text or "k_" in text or "gh" in text or "xox" in text or "AIza" in text
            or "glpat-" in text)


def _aws_gate(text: str) -> bool:
    return "AKIA" in text or "ASIA" in text or "AIDA" in text or "AROA" in text


_SECRET_NAMES = (r"password|passwd|pwd|passphrase|secret|client[_-]?secret|api[_-]?key"
                 r"|apikey|access[_-]?token|refresh[_-]?token|auth[_-]?token|token"
                 r"|private[_-]?key|session[_-]?id")

#: The built-in patterns by name (see the module's documentation).
PATTERNS: dict[str, Rule] = {rule.name: rule for rule in (
    Rule("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE "
        r"KEY-----"), gate=lambda text: "PRIVATE KEY" in text),
    Rule("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
         gate=lambda text: "eyJ" in text),
    Rule("bearer", re.compile(r"\b(?:[Bb]earer|Basic)\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)"),
         _credential_like, lambda text: "earer" in text or "Basic" in text),
    Rule("api_key", re.compile(
        r"(?<![\w-])(?:"
        r"sk-(?:proj-|ant-(?:api\d\d-)?|live-|test-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"
        r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"
        r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
        r"|xox[abposr]-[A-Za-z0-9-]{10,}"
        r"|AIza[0-9A-Za-z_-]{35}"
        r"|glpat-[A-Za-z0-9_-]{20,}"
        r")"), gate=_api_key_gate),
    Rule("aws", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}(?![A-Z0-9])"),
         gate=_aws_gate),
    Rule("url_credentials", re.compile(
        r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:(?P<secret>[^\s@/]+)@", re.IGNORECASE),
         gate=lambda text: "://" in text),
    Rule("assignment", re.compile(
        r"(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_-])*(?:" + _SECRET_NAMES + r")"
        r"[\"']?\s*[=:]\s*[\"']?(?P<secret>[^\s\"'&,;]{3,})", re.IGNORECASE),
         gate=_assignment_gate),
    Rule("email", re.compile(
        r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
         gate=lambda text: "@" in text),
    # Each number pattern opens with a digit (so the regex engine skips to digits), then
    # looks behind it.
    Rule("card", re.compile(r"\d(?<![\d.-]\d)(?:\d{3}([ -]?)\d{4}\1\d{4}\1\d{1,7}"
                            r"|\d{3}([ -]?)\d{6}\2\d{4,5})(?!\d)"), is_card_number, _NUMBER),
    Rule("ssn", re.compile(r"\d(?<![\d-]\d)\d\d([- ])\d\d\1\d{4}(?![\d-])"), _ssn_issued,
         _NUMBER),
    Rule("phone", re.compile(
        r"(?:\+(?<![\w+.-]\+)\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"  # +44 20 7946 0958
        r"|\((?<![\w+.-]\()\d{3}\)[ .-]?\d{3}[ .-]\d{4}"            # (415) 555-0123
        r"|\d(?<![\w+.-]\d)\d\d([ .-])\d{3}\1\d{4}"                  # 415-555-0123
        r")(?![\w.-]?\d)"), _phone_plausible, _NUMBER),
    Rule("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
         _iban_valid, _IBAN),
    Rule("nino", re.compile(
        r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
        r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"), gate=_NINO),
)}

#: The patterns a default :class:`Redactor` applies (all of :data:`PATTERNS`).
DEFAULT_PATTERNS: tuple[str, ...] = tuple(PATTERNS)

#: Field names whose whole value is redacted (also as a suffix: ``db_password``).
DEFAULT_FIELDS: tuple[str, ...] = (
    "password", "passwd", "passphrase", "secret", "client_secret", "api_key", "apikey",
    "x_api_key", "token", "access_token", "refresh_token", "id_token", "auth_token",
    "authorization", "proxy_authorization", "cookie", "set_cookie", "private_key",
    "credit_card", "card_number", "cvv", "cvc", "ssn", "session_id",
)

def _normalize(name: str) -> str:
    return name.lower().replace("-", "_")


class Redactor:
    """Redacts sensitive fields and patterns (see the module's documentation)."""

    def __init__(self, *, fields: Iterable[str] = DEFAULT_FIELDS,
                 patterns: Iterable[str | re.Pattern[str] | Rule] = DEFAULT_PATTERNS,
                 replacement: str = REPLACEMENT) -> None:
        self.replacement = replacement
        self.fields = frozenset(_normalize(f) for f in fields)
        self._suffixes = tuple("_" + f for f in self.fields)
        rules: list[Rule] = []
        for i, pattern in enumerate(patterns):
            if isinstance(pattern, Rule):
                rules.append(pattern)
            elif isinstance(pattern, re.Pattern):
                rules.append(Rule(f"custom_{i}", pattern))
            elif isinstance(pattern, str) and pattern in PATTERNS:
                rules.append(PATTERNS[pattern])
            else:
                raise ConfigurationError(
                    f"unknown redaction pattern {pattern!r}: use a built-in name "
                    f"({', '.join(PATTERNS)}), a compiled re.Pattern or a Rule")
        self.rules = tuple(rules)
        self._card = any(rule.name == "card" for rule in self.rules)
        self._subs = [(rule.gate, rule.regex.sub, self._replacer(rule)) for rule in self.rules]
        self._field_cache: dict[str, bool] = {}

    def _replacer(self, rule: Rule) -> Callable[[re.Match[str]], str]:
        replacement = self.replacement
        check = rule.check
        keeps = "secret" in rule.regex.groupindex

        def replace(match: re.Match[str]) -> str:
            text = match.group(0)
            if check is not None and not check(text):
                return text
            if keeps:
                start, end = match.span("secret")
                base = match.start()
                return text[: start - base] + replacement + text[end - base:]
            return replacement

        return replace

    def sensitive_field(self, name: str) -> bool:
        """Whether a field called ``name`` is redacted whole."""
        known = self._field_cache.get(name)
        if known is None:
            normalized = _normalize(name)
            known = normalized in self.fields or normalized.endswith(self._suffixes)
            if len(self._field_cache) < 4096:
                self._field_cache[name] = known
        return known

    def redact_text(self, text: str) -> str:
        """``text`` with every pattern match replaced."""
        last_gate: object = None
        passed = True
        for gate, sub, replace in self._subs:
            if gate is not last_gate:  # rules that share a gate (the number ones) test it once
                last_gate = gate
                passed = gate is None or bool(gate(text))
            if passed:
                text = sub(replace, text)
        return text

    def redact_value(self, value: Any) -> Any:
        """``value`` with sensitive fields and pattern matches replaced, recursing through
        dicts, lists and tuples (a new container when anything is; the input is never
        changed)."""
        if isinstance(value, str):
            return self.redact_text(value) if value else value
        if isinstance(value, Mapping):
            return {key: (self.replacement if isinstance(key, str) and self.sensitive_field(key)
                          and item is not None else self.redact_value(item))
                    for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.redact_value(item) for item in value)
        if type(value) is int and self._card and 10**12 <= value < 10**19 \
                and is_card_number(str(value)):
            return self.replacement
        return value


#: The default instance (every built-in field and pattern).
default_redactor = Redactor()


def redact_value(value: Any) -> Any:
    """:meth:`Redactor.redact_value` of the default redactor."""
    return default_redactor.redact_value(value)


def redact_text(text: str) -> str:
    """:meth:`Redactor.redact_text` of the default redactor."""
    return default_redactor.redact_text(text)


__all__ = ["DEFAULT_FIELDS", "DEFAULT_PATTERNS", "PATTERNS", "REPLACEMENT", "Redactor", "Rule",
           "default_redactor", "is_card_number", "luhn", "redact_text", "redact_value"]
