"""What every request passes before a route sees it: a bounded body and a clean URL.

``RequestGuard`` is ASGI middleware. A body over ``max_body`` bytes is answered 413
before it is read (by its ``Content-Length``) or as soon as the bytes received pass the
limit (a chunked body), so one large POST cannot fill the server's memory. A path or
query value holding a control character (NUL included: PostgreSQL cannot store it),
a bidirectional-text override, or more than ``MAX_ID`` characters is answered 422,
naming the parameter. Every answer is the service's JSON error body.

``check_text`` and ``check_json`` apply the same rules to a request body's strings, and
``shown`` bounds what an error echoes back of a value the caller sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BeforeValidator, WithJsonSchema

__all__ = [
    "MAX_BODY",
    "MAX_DEPTH",
    "MAX_ID",
    "MAX_URL",
    "SAFE_TEXT",
    "URL_PATTERN",
    "RequestGuard",
    "WebhookUrl",
    "check_json",
    "check_text",
    "check_url",
    "label",
    "shown",
]

MAX_BODY = 1024 * 1024
"""The default largest request body, in bytes (``create_app(max_body=)``)."""
MAX_ID = 512
"""The longest path or query value (a run id, a thread id, a workflow name)."""
MAX_DEPTH = 64
"""The deepest nesting of lists and objects a run's input may have."""
_SHOWN = 80
SAFE_TEXT = r"^[^\x00-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
"""What an id or a name may hold, as a pattern of the OpenAPI document (ECMA-262 and
pydantic's regex engine read it alike): no control or bidirectional character."""

# C0 controls and DEL (NUL among them), C1 controls, and the bidirectional overrides and
# isolates that make text read differently from how it is stored.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_INPUT = re.compile("\x00")  # in a run's input only NUL is refused: JSON keeps the rest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def shown(value: object, limit: int = _SHOWN) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for an error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def label(key: object) -> str:
    """A key as a path names it: as it is when short and printable, else cut and quoted."""
    text = str(key)
    return text if len(text) <= 40 and text.isprintable() else shown(text, 40)


def check_text(value: str, field: str) -> str | None:
    """Why ``value`` (an id or a name from the URL or a body) is refused, or None."""
    if len(value) > MAX_ID:
        return f"{field}: at most {MAX_ID} characters, got {len(value)}"
    found = _UNSAFE.search(value)
    if found is not None:
        return f"{field}: control or bidirectional character U+{ord(found.group()):04X} not allowed"
    return None


def check_json(value: Any, field: str, depth: int = 0) -> str | None:
    """Why a run's input ``value`` is refused (a NUL in a string or key, nesting deeper
    than ``MAX_DEPTH``), or None; the reason names the path to the bad value."""
    if isinstance(value, str):
        if _UNSAFE_INPUT.search(value) is not None:
            return f"{field}: NUL (U+0000) is not allowed in a string"
        return None
    if depth >= MAX_DEPTH and isinstance(value, (dict, list)):
        return f"{field}: nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            if _UNSAFE_INPUT.search(str(key)) is not None:
                return f"{field}: NUL (U+0000) is not allowed in a key"
            why = check_json(item, f"{field}.{label(key)}", depth + 1)
            if why is not None:
                return why
    elif isinstance(value, list):
        for i, item in enumerate(value):
            why = check_json(item, f"{field}[{i}]", depth + 1)
            if why is not None:
                return why
    return None


class RequestGuard:
    """ASGI middleware: a body limit and clean URLs for every HTTP request."""

    def __init__(self, app: App, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad_url = self._url(scope)
        if bad_url is not None:
            await _answer(send, 422, *bad_url)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_body:
            await _answer(send, 413, self._too_large(), "body")
            return
        started = refused = False
        received = 0

        async def counted() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body and not refused:
                    # Answer now and tell the app the client left: FastAPI would turn an
                    # exception raised here into its own 400.
                    refused = True
                    if not started:
                        await _answer(send, 413, self._too_large(), "body")
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not refused:
                raise

    def _too_large(self) -> str:
        return f"body: the request body is over {self.max_body} bytes"

    @staticmethod
    def _url(scope: Scope) -> tuple[str, str] | None:
        """The reason and field a request's path or query is refused for, or None."""
        for segment in str(scope.get("path", "")).split("/"):
            why = check_text(segment, "path")
            if why is not None:
                return why, "path"
        raw = scope.get("query_string", b"")
        try:
            query = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "query: not UTF-8", "query"
        for name, value in parse_qsl(query, keep_blank_values=True):
            why = check_text(name, "query")
            if why is not None:
                return why, "query"
            why = check_text(value, name)
            if why is not None:
                return why, name
        return None


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send: Send, status: int, detail: str, field: str) -> None:
    body = json.dumps({"detail": detail, "field": field}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------- webhook URLs

MAX_URL = 2048
"""The longest webhook URL taken."""
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)"
_USER = r"[A-Za-z0-9._~%!$&'()*+,;=-]+(:[A-Za-z0-9._~%!$&'()*+,;=:-]*)?@"
URL_PATTERN = (
    rf"^https?://({_USER})?[A-Za-z0-9._~-]+(:{_PORT})?"
    r"([/?#][^\x00-\x20\x7F-\x9F\u202A-\u202E\u2066-\u2069]*)?$"
)
"""What a webhook URL may be, as a pattern of the OpenAPI document: http(s), an optional
user, a host name or IPv4 address, a port up to 65535, a path and query with no space,
control or bidirectional character."""
_URL = re.compile(URL_PATTERN)
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def check_url(url: object, field: str = "webhook") -> str:
    """``url`` if it can take a webhook (``URL_PATTERN``, at most ``MAX_URL`` characters).

    Raises:
        ValueError: Why not, naming ``field``.
    """
    if not isinstance(url, str):
        raise ValueError(f"{field}: must be a URL string")
    if len(url) > MAX_URL:
        raise ValueError(f"{field}: at most {MAX_URL} characters, got {len(url)}")
    if _UNSAFE.search(url):
        raise ValueError(f"{field}: spaces and control characters are not allowed in a URL")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"{field}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{field}: must be an http or https URL")
    if not parts.hostname:
        raise ValueError(f"{field}: the URL has no host")
    if _URL.fullmatch(url) is None:
        raise ValueError(f"{field}: not a webhook URL (http(s)://host[:port]/path)")
    return url


WebhookUrl = Annotated[
    str,
    BeforeValidator(check_url),
    WithJsonSchema({"type": "string", "pattern": URL_PATTERN, "maxLength": MAX_URL}),
]
"""A webhook URL in a request body (``check_url``)."""
