"""Redacting secrets from exception messages and trimming stacks before they leave a node.

Only the exported form (state, logs, telemetry, checkpoint bytes) is sanitized;
callers keep the live exception.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import sysconfig
import traceback
from types import CodeType, TracebackType
from typing import Any

from langgraph_runner._records.secret_scan import REDACTED, scan

__all__ = [
    "REDACTED",
    "escape_controls",
    "sanitize_message",
    "sanitize_stack",
    "scrub_url_password",
    "url_password_pieces",
]

_LOOKAHEAD = 512
_MARKER = re.compile(r"\.\.\. \[\d+ more chars\]\Z")
_MARKER_MAX = 40
DEFAULT_MAX_MESSAGE = 500
DEFAULT_MAX_FRAMES = 20
DEFAULT_MAX_STACK = 4000
# Outer frames of plumbing between LangGraph and the user's function: the wrapper
# itself, tenacity's re-raise, executor threads. Dropped when they lead the stack.
PLUMBING_PREFIXES = (
    "langgraph_runner/",
    "tenacity/",
    "concurrent/futures/",
    "asyncio/",
    "threading.py",
    "langchain_core/runnables/config.py",
)


def _text(message: object) -> str:
    if isinstance(message, str):
        return message
    try:
        return str(message)
    except BaseException:  # a hostile __str__ (even one raising KeyboardInterrupt)
        # must not replace the error being recorded.
        return f"<unprintable {type(message).__name__}>"


def _cut(text: str, limit: int) -> str:
    """``text[:limit]``, moved left so no ``[REDACTED]`` marker is cut in half."""
    start = text.find(REDACTED, max(0, limit - len(REDACTED) + 1), limit + len(REDACTED))
    if start != -1 and start < limit:
        limit = start
    return text[:limit]


def sanitize_message(message: object, *, max_length: int = DEFAULT_MAX_MESSAGE) -> str:
    """Redact secrets from a message and cap its length.

    Redacts private keys (PEM, OpenSSH, PGP, PuTTY), passwords in URLs, cookies,
    ``Authorization``/bearer/basic credentials, JWTs, cloud keys (AWS access key
    ids and secret keys, Google, Azure storage and AD keys, SAS ``sig=``), provider
    tokens (OpenAI, Anthropic, GitHub, GitLab, Slack, Stripe, Hugging Face, ...) and
    ``password=``/``token=``/``api_key=``-style pairs, also quoted, JSON-embedded
    and URL-encoded. The whole rule list is in ``docs/security.md``.

    The cost is bounded: the text is cut to ``max_length`` (plus a short
    look-ahead) *before* it is scanned, so a 100 MB message costs what a 1 kB one
    does. The result is at most ``max_length`` plus a ``... [N more chars]``
    marker, and sanitizing it again changes nothing.

    Args:
        message: The text (anything; ``str()`` is applied, and a ``__str__`` that
            raises gives ``<unprintable TypeName>``).
        max_length: Longest result before the marker; longer messages are cut.

    Returns:
        The sanitized message.

    Raises:
        ValueError: If ``max_length`` is less than 1.
    """
    if max_length.__class__ is not int or max_length < 1:
        _bad_length(max_length)
    text = _text(message)
    if len(text) <= _CACHE_TEXT:
        out = _sanitize_cached(text, max_length)
        # The cache answers with the object it kept, which may be an equal text another
        # caller passed: a clean text comes back as the very object given.
        return text if out is not text and out == text else out
    return _sanitize(text, max_length)


def _bad_length(max_length: object) -> None:
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise TypeError(
            f"sanitize_message: max_length must be an int, got {type(max_length).__name__}"
        )
    if max_length < 1:
        raise ValueError(f"sanitize_message: max_length must be at least 1, got {max_length}")


# A failure's text is sanitized more than once (its record, its log line, the
# exception raise mode lets out), and a retried call fails with the same text:
# short texts are remembered.
_CACHE_TEXT = 4096


@functools.lru_cache(maxsize=512)
def _sanitize_cached(text: str, max_length: int) -> str:
    return _sanitize(text, max_length)


# Lower-case hexadecimal and dashes (trace ids, UUIDs, hashes): no rule can match it
# (every rule needs another letter, an upper-case one or a separator) and value
# detection leaves hexadecimal alone, so such a short text is returned unscanned.
_PLAIN_ID = re.compile(r"[0-9a-f-]{1,128}")


def _sanitize(text: str, max_length: int) -> str:
    size = len(text)
    if size <= max_length and _PLAIN_ID.fullmatch(text) is not None:
        return text
    if size > max_length:
        # Already sanitized and cut by this function: leave it as it is.
        marker = _MARKER.search(text, max(0, size - _MARKER_MAX))
        if marker is not None and marker.start() <= max_length:
            head = text[: marker.start()]
            if scan(head) == head:
                return text
    window = text[: max_length + _LOOKAHEAD] if size > max_length + _LOOKAHEAD else text
    out = scan(window)
    if len(out) <= max_length and len(window) == size:
        return out
    # Cutting can leave a new shape at the end (half a token): scan the head again
    # until it holds still, so the result is a fixed point.
    head = _cut(out, max_length)
    for _ in range(3):
        again = scan(head)
        if again == head:
            break
        head = _cut(again, max_length)
    else:
        head = ""
    return f"{head}... [{max(size - len(head), 1)} more chars]"


# What a terminal, a log line or a diagram must never receive raw: C0 and C1 control
# characters (newline, ESC of ANSI and OSC sequences, BEL ...), the line and paragraph
# separators and the bidirectional controls that reorder what is shown (U+202E).
_CONTROL_ESCAPES = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))},
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    **{c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029)},
    **{c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
}


def escape_controls(text: str) -> str:
    """``text`` with control, line-separator and bidi characters shown as escapes.

    For names and messages printed to a terminal, a log line or a diagram: a node
    named ``"a\\nb"`` or holding ``ESC [ 2 J`` or U+202E cannot forge lines, run
    terminal sequences or reorder what is shown. Printable text is returned as is.
    """
    return text if text.isprintable() else text.translate(_CONTROL_ESCAPES)


def url_password_pieces(url: str) -> list[str]:
    """Every piece of text in ``url`` that may be (part of) a password, longest first.

    Worked out by hand, not by a URL parser: the URL may be malformed (a space, a
    "/" or "#" in the password, no host), and a driver's error message may quote
    any piece of it. Whatever follows ``user:`` up to the last ``@`` (or, with no
    ``@``, up to the path) counts, and so does each of its pieces.
    """
    _, sep, rest = url.partition("://")
    if not sep:
        return []
    userinfo = rest.rpartition("@")[0] if "@" in rest else rest.split("/", 1)[0]
    password = userinfo.partition(":")[2]
    if not password:
        return []
    pieces = {password, *re.split(r"[\s/?#@:\[\]'\"]+", password)}
    return sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True)


def scrub_url_password(text: str, url: str) -> str:
    """``text`` (a driver's error about ``url``) with no piece of the URL's password, redacted."""
    for piece in url_password_pieces(url):
        text = text.replace(piece, REDACTED)
    return sanitize_message(text, max_length=2000)


def _path_roots() -> tuple[str, ...]:
    """Folders that stack paths are shown relative to; longest first.

    Touches the filesystem, so it runs once, at import: building a record must
    never block an event loop (``langgraph dev`` refuses blocking calls there).
    Both the lexical and the resolved form of each folder are kept, so frame
    paths can be matched without resolving them.
    """
    paths = [sysconfig.get_paths().get(k) for k in ("purelib", "platlib", "stdlib", "platstdlib")]
    paths.extend(p for p in sys.path if p)
    paths.append(os.getcwd())
    roots: set[str] = set()
    for path in paths:
        if path and os.path.isdir(path):
            roots.add(os.path.normpath(os.path.abspath(path)))
            roots.add(os.path.realpath(path))
    # Longest first, so site-packages wins over the stdlib folder that contains it.
    return tuple(sorted(roots, key=len, reverse=True))


_ROOTS = _path_roots()


def _relative(path: str, roots: tuple[str, ...]) -> str:
    # Lexical only (no realpath/abspath/relpath): they stat and readlink.
    norm = os.path.normpath(path)
    for root in roots:
        if norm.startswith(root + os.sep):
            return norm[len(root) + 1 :]
    return os.path.basename(norm)


@functools.lru_cache(maxsize=2048)
def _relative_cached(path: str) -> str:
    # A process has few source files, and each stack repeats them.
    return _relative(path, _ROOTS)


_FRAME_LINES: dict[tuple[Any, ...], tuple[tuple[CodeType, ...], str]] = {}
_FRAME_LINES_MAX = 1024


def _frame_lines(tb: TracebackType, max_frames: int, skip_leading: tuple[str, ...]) -> str:
    """The frame lines of ``tb``, joined (``""`` when every frame was skipped)."""
    # walk_tb, not extract_tb: no source lines are read (file I/O, and not wanted anyway).
    frames = [
        (frame.f_code.co_name, lineno, _relative_cached(frame.f_code.co_filename))
        for frame, lineno in traceback.walk_tb(tb)
    ]
    while len(frames) > 1 and frames[0][2].startswith(skip_leading):
        frames.pop(0)
    lines: list[str] = []
    skipped = max(0, len(frames) - max_frames)
    if skipped:
        lines.append(f"... {skipped} outer frame(s) omitted")
    lines.extend(f"{rel}:{lineno} in {name}" for name, lineno, rel in frames[skipped:])
    return "\n".join(lines)


def sanitize_stack(
    exc_or_tb: BaseException | TracebackType | None,
    *,
    max_frames: int = DEFAULT_MAX_FRAMES,
    max_length: int = DEFAULT_MAX_STACK,
    skip_leading: tuple[str, ...] = PLUMBING_PREFIXES,
    message: str | None = None,
) -> str | None:
    """A compact, secret-free stack: frames and relative paths only.

    Keeps ``path:line in function`` per frame (innermost last), with paths made
    relative to their package (site-packages) or project folder; no source lines
    and no locals, so literals in code cannot leak. The last line is the
    exception type and its sanitized message.

    Args:
        exc_or_tb: An exception (its ``__traceback__`` is used) or a traceback.
        max_frames: Keep at most this many innermost frames.
        max_length: Cap on the whole text.
        skip_leading: Relative-path prefixes of outer frames to drop while they
            lead the stack (the wrapper's own plumbing); inner frames always stay.
        message: The exception's message, already sanitized (saves a second scan
            when the caller has it); by default ``sanitize_message(exc)``.

    Returns:
        The stack text, or None when there is no traceback.
    """
    exc: BaseException | None = None
    if isinstance(exc_or_tb, BaseException):
        exc = exc_or_tb
        tb = exc.__traceback__
    else:
        tb = exc_or_tb
    if tb is None:
        return None
    # A failing call site fails the same way many times: its frame lines are kept by
    # (code object, instruction) of each frame, so only the first failure formats them.
    # Code objects are keyed by id (equal code in two files compares equal) and held
    # by the entry, so an id cannot be reused while it is cached.
    codes = []
    key: list[int] = []
    walk: TracebackType | None = tb
    while walk is not None:
        code = walk.tb_frame.f_code
        codes.append(code)
        key += (id(code), walk.tb_lasti)
        walk = walk.tb_next
    cache_key = (*key, max_frames, skip_leading)
    cached = _FRAME_LINES.get(cache_key)
    if cached is None:
        cached = (tuple(codes), _frame_lines(tb, max_frames, skip_leading))
        if len(_FRAME_LINES) >= _FRAME_LINES_MAX:
            _FRAME_LINES.clear()
        _FRAME_LINES[cache_key] = cached
    text = cached[1]
    if exc is not None:
        if message is None:
            message = sanitize_message(exc, max_length=300)
        tail = f"{type(exc).__qualname__}: {message}"
        text = f"{text}\n{tail}" if text else tail
    if len(text) > max_length:
        text = "... " + text[-max_length:]
    return text
