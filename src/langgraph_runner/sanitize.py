"""Redacting secrets from exception messages and trimming stacks before they leave a node.

Only the exported form (state, logs, telemetry, checkpoint bytes) is sanitized;
callers keep the live exception.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import traceback
from types import TracebackType

__all__ = ["REDACTED", "sanitize_message", "sanitize_stack"]

REDACTED = "[REDACTED]"
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

_SECRET_KEYS = (
    r"password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|id_token|"
    r"api[_-]?key|apikey|x-api-key|auth|authorization|private[_-]?key|session[_-]?id|"
    r"aws_secret_access_key|aws_session_token|credentials?|secret[_-]?key"
)

# Order matters: specific token shapes first, then generic key=value pairs.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> keep the user, drop the password. The user may be
    # empty (redis://:pw@host) and the password may hold "@" (up to the last one).
    # The lookbehind starts a scheme only where a run of scheme characters starts:
    # with a mere \b, text like "a.a.a.a..." took quadratic time.
    (
        re.compile(
            r"(?P<pre>(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s/?#]+(?=@)"
        ),
        rf"\g<pre>{REDACTED}",
    ),
    # Authorization headers: the scheme and the credentials ("Token <hex>", "Digest ...")
    (
        re.compile(
            r"(?i)(?P<key>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(?:bearer|basic|token|digest|negotiate|ntlm|bot|apikey|api-key|key|sso-key)\s+)?"
            r"[^\s\"',;]+"
        ),
        rf"\g<key>{REDACTED}",
    ),
    # Bearer/Basic <credentials>. The credentials must look like one (a digit, "+/=_~",
    # or an upper-case letter after the first), so "a basic configuration problem" or
    # "Basic authentication failed" stay readable.
    (
        re.compile(
            r"\b(?P<scheme>(?i:bearer|basic))\s+"
            r"(?=[A-Za-z0-9._~+/=-]*[0-9+/=_~]|[A-Za-z0-9._~+/=-]+[A-Z])"
            r"[A-Za-z0-9._~+/=-]{8,}"
        ),
        rf"\g<scheme> {REDACTED}",
    ),
    # JSON Web Tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    # OpenAI / Anthropic style keys: sk-..., sk-proj-..., sk-ant-...
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"), REDACTED),
    # AWS access key ids
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"), REDACTED),
    # GitHub, Slack, Google, Stripe, Hugging Face tokens
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), REDACTED),
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}"), REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), REDACTED),
    # key=value, key: value, "key": "value"  (value quoted or bare)
    (
        re.compile(
            # Prefixed names too: DB_PASSWORD, GITHUB_TOKEN, ANTHROPIC_API_KEY, app_secret.
            rf"(?i)(?P<key>[\"']?\b(?:[a-z0-9]+_)*(?:{_SECRET_KEYS})\b[\"']?\s*[:=]\s*)"
            r"(?!\[REDACTED\])(?P<val>\"[^\"]*\"|'[^']*'|[^\s,;&)}\]]+)"
        ),
        rf"\g<key>{REDACTED}",
    ),
)


def sanitize_message(message: object, *, max_length: int = DEFAULT_MAX_MESSAGE) -> str:
    """Redact secrets from a message and cap its length.

    Redacts API keys (``sk-...``, GitHub, Slack, Google, Stripe, Hugging Face),
    bearer/basic credentials, JWTs, AWS access key ids, ``password=``/``token=``/
    ``api_key=``-style pairs (also as JSON), and passwords in URLs.

    Args:
        message: The text (anything; ``str()`` is applied).
        max_length: Longest result; longer messages are cut and marked.

    Returns:
        The sanitized message.
    """
    if isinstance(message, str):
        text = message
    else:
        try:
            text = str(message)
        except Exception:  # a broken __str__ must not replace the error being recorded
            text = f"<unprintable {type(message).__name__}>"
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    if len(text) > max_length:
        cut = len(text) - max_length
        text = f"{text[:max_length]}... [{cut} more chars]"
    return text


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


def sanitize_stack(
    exc_or_tb: BaseException | TracebackType | None,
    *,
    max_frames: int = DEFAULT_MAX_FRAMES,
    max_length: int = DEFAULT_MAX_STACK,
    skip_leading: tuple[str, ...] = PLUMBING_PREFIXES,
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
    # walk_tb, not extract_tb: no source lines are read (file I/O, and not wanted anyway).
    frames = [
        (frame.f_code.co_name, lineno, _relative(frame.f_code.co_filename, _ROOTS))
        for frame, lineno in traceback.walk_tb(tb)
    ]
    while len(frames) > 1 and frames[0][2].startswith(skip_leading):
        frames.pop(0)
    lines: list[str] = []
    skipped = max(0, len(frames) - max_frames)
    if skipped:
        lines.append(f"... {skipped} outer frame(s) omitted")
    lines.extend(f"{rel}:{lineno} in {name}" for name, lineno, rel in frames[skipped:])
    if exc is not None:
        lines.append(f"{type(exc).__qualname__}: {sanitize_message(exc, max_length=300)}")
    text = "\n".join(lines)
    if len(text) > max_length:
        text = "... " + text[-max_length:]
    return text
