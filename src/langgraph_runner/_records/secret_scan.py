"""Finding secrets in text: the redaction rules' scanner and the high-entropy token check.

``scan`` is what ``sanitize_message`` runs over every message that leaves a node; the
rules themselves are the table in ``redaction_rules``.
"""

from __future__ import annotations

import functools
import math
import re

from langgraph_runner._records.redaction_rules import RULES

__all__ = ["ENTROPY_MIN_LENGTH", "REDACTED", "looks_random", "scan"]

REDACTED = "[REDACTED]"


# Two steps keep the common case (no secret) cheap. One trigger pattern (a trie of
# the rules' trigger strings, all literals) finds which rules can match at all; then
# one alternation of just those rules, compiled once per combination and cached,
# redacts in a single pass. Each rule is a named group ``r<i>``; its ``keep`` group
# (the key, the scheme, the user name) becomes ``k<i>`` and is kept verbatim.
def _trie(words: list[str]) -> str:
    first: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        first.setdefault(word[0], []).append(word[1:])
    parts = []
    for char, rests in first.items():
        if "" in rests:
            parts.append(re.escape(char))  # a shorter trigger covers the longer ones
        elif len(rests) == 1:
            parts.append(re.escape(char + rests[0]))
        else:
            parts.append(f"{re.escape(char)}(?:{_trie(rests)})")
    return "|".join(parts)


def _triggers() -> tuple[re.Pattern[str], dict[str, int], tuple[tuple[bool, int, int], ...]]:
    literal: dict[str, int] = {}
    runs: list[tuple[bool, int, int]] = []
    for i, (_name, triggers, _source, _regex) in enumerate(RULES):
        for trigger in triggers:
            if trigger[0] in "#%":
                runs.append((trigger[0] == "%", int(trigger[1:]), 1 << i))
            else:
                literal[trigger] = literal.get(trigger, 0) | (1 << i)
    # findall reports non-overlapping matches, and the trie keeps only the shortest of
    # two triggers sharing a start. So a found trigger also stands for every trigger
    # it may hide: one it starts, one starting inside it, one its tail begins.
    closed = dict(literal)
    for found in literal:
        for other, bits in literal.items():
            hidden = other.startswith(found) or any(
                other.startswith(found[k:]) or found[k:].startswith(other)
                for k in range(1, len(found))
            )
            if hidden:
                closed[found] |= bits
    return re.compile(_trie(list(literal))), closed, tuple(runs)


_TRIGGER, _LITERAL_BITS, _RUN_BITS = _triggers()
_MIN_RUN = min((n for _, n, _ in _RUN_BITS), default=0)


def _run_table(extra: str) -> bytes:
    # Token characters map to "a", everything else to " ": b"a" * N finds a run.
    return bytes(
        ord("a") if chr(i).isascii() and (chr(i).isalnum() or chr(i) in extra) else ord(" ")
        for i in range(256)
    )


_RUN_TABLES = (_run_table("/+"), _run_table("_-"))  # "#N": base64, "%N": base64url


@functools.lru_cache(maxsize=256)
def _scanner(mask: int) -> tuple[re.Pattern[str], dict[str, str]]:
    parts: list[str] = []
    keeps: dict[str, str] = {}
    for i, (_name, _triggers, _source, regex) in enumerate(RULES):
        if not mask & (1 << i):
            continue
        if "(?P<keep>" in regex:
            regex = regex.replace("(?P<keep>", f"(?P<k{i}>", 1)
            keeps[f"r{i}"] = f"k{i}"
        parts.append(f"(?P<r{i}>{regex})")
    return re.compile("|".join(parts)), keeps


def _mask(text: str) -> int:
    """The rules that can match somewhere in ``text``."""
    mask = 0
    for found in _TRIGGER.findall(text.lower()):
        mask |= _LITERAL_BITS[found]
    if len(text) >= _MIN_RUN:
        raw = text.encode("ascii", "replace")
        runs = (raw.translate(_RUN_TABLES[0]), raw.translate(_RUN_TABLES[1]))
        for urlsafe, length, bit in _RUN_BITS:
            if b"a" * length in runs[urlsafe]:
                mask |= bit
    return mask


# How far past the cap the scan looks, so a secret that starts before the cut is
# recognised whole (a PEM header, a token) and no prefix of it survives the cut.


def _scan_rules(text: str) -> str:
    mask = _mask(text)
    if not mask:
        return text
    pattern, keeps = _scanner(mask)

    def replace(match: re.Match[str]) -> str:
        keep = keeps.get(match.lastgroup or "")
        return REDACTED if keep is None else match.group(keep) + REDACTED

    return pattern.sub(replace, text)


# Value detection that needs no key name and no known prefix: a long run of token
# characters that reads as random, the way detect-secrets' Base64HighEntropyString
# plugin judges a string (Shannon entropy per character), applied after the rules so
# a failed candidate never hides a rule's match. The bar rises with the length (a
# random string of n characters cannot exceed log2(n) bits per character).
ENTROPY_MIN_LENGTH = 32
_ENTROPY_TABLE = _run_table("+/_-")
_ENTROPY_CANDIDATE = re.compile(
    rf"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{{{ENTROPY_MIN_LENGTH},}}={{0,2}}(?![A-Za-z0-9+/_-])"
)
# Ids that are random by design and not secrets: request, message and call ids of
# the model providers, and the package's own markers.
_NOT_SECRET_PREFIXES = (
    "req_",
    "msg_",
    "chatcmpl-",
    "call_",
    "toolu_",
    "run_",
    "thread_",
    "asst_",
    "file-",
    "batch_",
    "resp_",
)


_HEX = "0123456789abcdefABCDEF-"


def _entropy(text: str) -> float:
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in map(text.count, set(text)))


def looks_random(token: str) -> bool:
    """Whether ``token`` (a run of base64/base64url characters) reads as a random secret.

    At least ``ENTROPY_MIN_LENGTH`` characters, upper case and lower case or
    digits, not a path (a "/" every 10 characters or more often), not hexadecimal
    (hashes, trace ids and UUIDs), not a provider's request or message id, and a
    Shannon entropy of at least
    ``min(log2(n) - 1.1, 4.4)`` bits per character.
    """
    body = token.rstrip("=")
    size = len(body)
    if size < ENTROPY_MIN_LENGTH or body.startswith(_NOT_SECRET_PREFIXES):
        return False
    if body.count("/") * 10 > size or not body.strip(_HEX):
        return False
    if not any(c.isupper() for c in body):
        return False  # paths, slugs, dates and lower-case ids
    if not any(c.islower() or c.isdigit() for c in body):
        return False
    return _entropy(body) >= min(math.log2(size) - 1.1, 4.4)


def _scan_entropy(text: str) -> str:
    if len(text) < ENTROPY_MIN_LENGTH or text.lower() == text:  # no upper case: no candidate
        return text
    raw = text.encode("ascii", "replace").translate(_ENTROPY_TABLE)
    if b"a" * ENTROPY_MIN_LENGTH not in raw:
        return text
    return _ENTROPY_CANDIDATE.sub(
        lambda m: REDACTED if looks_random(m.group()) else m.group(), text
    )


# Characters that hide a key name from the rules without showing on screen: zero-width
# and soft-hyphen characters, ANSI/OSC terminal sequences, and full-width forms of
# ASCII (U+FF01-U+FF5E). A text holding one is also scanned with them removed (and
# full-width folded to ASCII); when that finds a secret, the cleaned text is the result.
_INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
_HIDDEN = re.compile(f"[{_INVISIBLE}\uff01-\uff5e\x1b\x9b]")
_TERMINAL = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]"
)
_FOLD = {
    **{ord(c): None for c in _INVISIBLE},
    **{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)},
}


def scan(text: str) -> str:
    """``text`` with every secret the rules or the entropy check find replaced by ``REDACTED``."""
    out = _scan_entropy(_scan_rules(text))
    if (text.isascii() and "\x1b" not in text) or _HIDDEN.search(text) is None:
        return out
    # Markers already in the text stay whole: a terminal sequence cut by an earlier pass
    # ("ESC [" before "[REDACTED]") must not eat the marker's bracket and join what
    # precedes it to the word REDACTED, or sanitizing again would change the text.
    plain = REDACTED.join(_TERMINAL.sub("", p).translate(_FOLD) for p in text.split(REDACTED))
    plain_out = _scan_entropy(_scan_rules(plain))
    return out if plain_out == plain else plain_out
