"""Redacting secrets, trimming stacks, and keeping secrets out of state, logs and checkpoints."""

from __future__ import annotations

import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, RetryConfig, create_node
from langgraph_runner._records.logs import LOGGER_NAME
from langgraph_runner._records.sanitize import REDACTED, sanitize_message, sanitize_stack
from langgraph_runner.testing import no_wait
from tests.conftest import SqliteConnect

# ---------------------------------------------------------------- sanitize_message: secrets

SECRET_CASES: list[tuple[str, str, str]] = [
    # (id, message, the secret that must disappear)
    (
        "openai-key",
        "Incorrect API key provided: sk-abcdefghijklmnop1234.",
        "sk-abcdefghijklmnop1234",
    ),
    ("openai-proj-key", "key sk-proj-AbC123_def-456ghiJKL789 rejected", "AbC123_def-456ghiJKL789"),
    ("anthropic-key", "x-api-key sk-ant-api03-AbCdEf0123456789xyz invalid", "AbCdEf0123456789xyz"),
    ("bearer", "401 for header Bearer abcDEF123456ghiJKL", "abcDEF123456ghiJKL"),
    ("bearer-lower", "bearer 0a1b2c3d4e5f6a7b8c9d", "0a1b2c3d4e5f6a7b8c9d"),
    ("basic", "sent Basic dXNlcjpodW50ZXIy to proxy", "dXNlcjpodW50ZXIy"),
    (
        "jwt",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U expired",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    ("aws-access-key", "AWS said no to AKIAIOSFODNN7EXAMPLE today", "AKIAIOSFODNN7EXAMPLE"),
    ("aws-sts-key", "temporary ASIAY34FZKBOKMUTVV7A expired", "ASIAY34FZKBOKMUTVV7A"),
    (
        "aws-secret-pair",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("password-eq", "login failed: password=hunter2 for bob", "hunter2"),
    ("password-colon", "Password: hunter2", "hunter2"),
    ("password-upper", "PASSWORD=Hunter2!", "Hunter2!"),
    ("passwd-quoted", "passwd='correct horse battery'", "correct horse battery"),
    ("token-eq", "GET /items?token=abc123xyz&page=2", "abc123xyz"),
    ("access-token", "access_token=ya29.a0AfH6SMBx", "ya29.a0AfH6SMBx"),
    ("api-key-eq", "api_key=abc123 and more", "abc123"),
    ("api-key-dash", "API-KEY: Zm9vYmFy", "Zm9vYmFy"),
    ("x-api-key", "x-api-key: 0123456789abcdef", "0123456789abcdef"),
    ("client-secret", "client_secret=shhh-very-secret", "shhh-very-secret"),
    ("json-password", '{"user": "bob", "password": "hunter2"}', "hunter2"),
    ("dict-repr-token", "{'token': 'tok_9f8e7d6c'}", "tok_9f8e7d6c"),
    ("env-db-password", "settings invalid: DB_PASSWORD=hunter2", "hunter2"),
    (
        "env-github-token",
        "GITHUB_TOKEN=0123456789abcdef0123456789abcdef01234567 set",
        "0123456789abcdef",
    ),
    ("env-anthropic-key", "ANTHROPIC_API_KEY=notes-of-a-key-123", "notes-of-a-key-123"),
    ("django-secret-key", "SECRET_KEY = 'django-insecure-abc123'", "django-insecure-abc123"),
    ("secret-key-lower", "secret_key=abc123", "abc123"),
    (
        "auth-token-header",
        "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
        "9944b09199c62bcf",
    ),
    ("auth-header-bearer", "Authorization: Bearer abcDEF123456ghiJKL", "abcDEF123456ghiJKL"),
    ("auth-header-json", '{"Authorization": "Token 9944b09199c62bcf9418"}', "9944b09199c62bcf9418"),
    ("url-password", "could not connect to postgresql://app:s3cr3t@db:5432/prod", "s3cr3t"),
    ("url-password-https", "GET https://user:pa55word@api.example.com/v1 failed", "pa55word"),
    ("url-empty-user", "redis://:hunter2pass@localhost:6379/0 refused", "hunter2pass"),
    ("url-at-in-password", "postgres://app:p@ssw0rd@db:5432/prod down", "ssw0rd"),
    ("url-amqp", "amqp://guest:guestpw@rabbit:5672// closed", "guestpw"),
    ("github-pat", "ghp_abcdefghijklmnopqrstuvwxyz0123456789 revoked", "ghp_abcdefghijklmnop"),
    ("slack", "xoxb-123456789012-abcdefABCDEF invalid", "xoxb-123456789012"),
    ("google", "key AIzaSyA1234567890abcdefghijklmnopqrstuv bad", "AIzaSyA1234567890"),
    ("stripe", "sk_live_abcdefghij1234567 rejected", "sk_live_abcdefghij"),
    ("huggingface", "hf_abcdefghijklmnopqrstuvwxyz invalid", "hf_abcdefghijklmnop"),
]


@pytest.mark.parametrize(
    ("message", "secret"), [c[1:] for c in SECRET_CASES], ids=[c[0] for c in SECRET_CASES]
)
def test_secret_is_redacted(message: str, secret: str) -> None:
    """Each secret shape is replaced by the redaction marker."""
    out = sanitize_message(message)
    assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("login failed: password=hunter2 for bob", f"login failed: password={REDACTED} for bob"),
        (
            "could not connect to postgresql://app:s3cr3t@db:5432/prod",
            f"could not connect to postgresql://app:{REDACTED}@db:5432/prod",
        ),
        ("redis://:pw@localhost:6379/0", f"redis://:{REDACTED}@localhost:6379/0"),
        ("token=abc&user=me", f"token={REDACTED}&user=me"),
        ('{"password": "hunter2", "user": "bob"}', f'{{"password": {REDACTED}, "user": "bob"}}'),
        ("Authorization: Bearer abcDEF123456ghiJKL", f"Authorization: {REDACTED}"),
        ("key sk-abcdefghijklmnop1234 leaked", f"key {REDACTED} leaked"),
    ],
)
def test_redaction_keeps_the_context(message: str, expected: str) -> None:
    """Only the secret is replaced: keys, users, hosts and surrounding words stay readable."""
    assert sanitize_message(message) == expected


HARMLESS = [
    "token count is 5",
    "max_tokens=4096 exceeded",
    "prompt_tokens: 1200, completion_tokens: 80",
    "skip-connection failed in layer 3",
    "sk-learn is not installed",
    "task-runner crashed",
    "/home/user/project/src/app/nodes.py:12 in fetch",
    "C:\\Users\\bob\\project\\app.py",
    "This is a basic configuration problem",
    "Basic authentication failed",
    "the bearer instrument was rejected",
    "password is wrong",
    "password_hash mismatch",
    "OAuth error: consent required",
    "author=Jane Doe",
    "authority: example.com",
    "http://host:8080/path@foo",
    "https://example.com/docs?page=2",
    "ssh://git@github.com:22/org/repo.git",
    "Connection refused to 10.0.0.1:5432",
    "The request timed out after 30s",
    "ValueError: invalid literal for int() with base 10: 'abc'",
    "KeyError: 'user_id'",
    "Node 'fetch' failed after 3 attempt(s): ConnectionError: down",
    "uuid 123e4567-e89b-12d3-a456-426614174000 not found",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 mismatch",
]


@pytest.mark.parametrize("message", HARMLESS)
def test_ordinary_text_is_not_mangled(message: str) -> None:
    """Ordinary error text, paths and look-alike words pass through unchanged."""
    assert sanitize_message(message) == message


def test_a_clean_text_comes_back_as_the_object_given_when_an_equal_one_was_seen() -> None:
    """The short-text cache keeps the first object it saw; an equal text passed later still
    comes back as itself (egress and the log line's fast path compare by identity)."""
    word = uuid.uuid4().hex[:8] + " is fine"
    first, second = "".join(list(word)), "".join(list(word))  # equal, not the same object
    assert first == second and first is not second
    assert sanitize_message(first) is first
    assert sanitize_message(second) is second


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("token: None", f"token: {REDACTED}"),
        ("auth: failed", f"auth: {REDACTED}"),
        ("pwd=/home/bob", f"pwd={REDACTED}"),
        ("session_id=abc", f"session_id={REDACTED}"),
        ("max_token=5", f"max_token={REDACTED}"),
    ],
)
def test_accepted_over_redaction(message: str, expected: str) -> None:
    """Known over-redaction: any value after a secret-looking key goes (on purpose: safe side)."""
    assert sanitize_message(message) == expected


def test_message_is_capped_after_redaction() -> None:
    """Long messages are cut to max_length plus a marker that counts the rest."""
    out = sanitize_message("x" * 1000, max_length=100)
    assert out == "x" * 100 + "... [900 more chars]"


def test_short_message_is_not_marked() -> None:
    """A message at the limit is returned as is."""
    assert sanitize_message("y" * 50, max_length=50) == "y" * 50


def test_secret_cut_by_the_cap_does_not_leak() -> None:
    """Redaction happens before the cut, so a secret straddling the limit never half-leaks."""
    message = "a" * 90 + " password=hunter2hunter2hunter2"
    out = sanitize_message(message, max_length=100)
    assert "hunter2" not in out
    assert "hunt" not in out


def test_default_cap() -> None:
    """The default cap keeps messages to a bounded size."""
    assert len(sanitize_message("z" * 100_000)) < 600


def test_accepts_any_object() -> None:
    """Exceptions and other objects are converted with str() and sanitized."""
    assert sanitize_message(RuntimeError("password=hunter2")) == f"password={REDACTED}"
    assert sanitize_message(42) == "42"


def test_unprintable_object_does_not_raise() -> None:
    """An exception whose __str__ raises yields a placeholder, not a new error in the error path."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    out = sanitize_message(Unprintable())
    assert "Unprintable" in out


@pytest.mark.parametrize(
    "unit", ["a-", "a_", "sk-", "password=", "Bearer ", "http://u:", "x" * 7 + "_", "@"]
)
def test_large_hostile_input_is_handled(unit: str) -> None:
    """Large repetitive inputs are sanitized and capped (no pathological regex blow-up)."""
    out = sanitize_message(unit * 20_000)
    assert len(out) < 600


# ---------------------------------------------------------------- sanitize_stack


def _raise_in_helper(message: str) -> None:
    password = "hunter2-local-variable"  # a local that must never appear in a stack
    assert password
    raise ValueError(message)


def _nested(depth: int, message: str) -> None:
    if depth == 0:
        _raise_in_helper(message)
    else:
        _nested(depth - 1, message)


def _caught(depth: int = 0, message: str = "boom") -> BaseException:
    try:
        _nested(depth, message)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def test_stack_has_frames_and_relative_paths_only() -> None:
    """Each line is 'path:line in function' with a relative path; the last line is the error."""
    stack = sanitize_stack(_caught())
    assert stack is not None
    lines = stack.splitlines()
    assert lines[-1] == "ValueError: boom"
    frame_lines = lines[:-1]
    assert frame_lines
    assert all(re.fullmatch(r"[^\s:]+\.py:\d+ in \S+", line) for line in frame_lines), lines
    assert frame_lines[-1].endswith(" in _raise_in_helper")
    assert any(" in _caught" in line for line in frame_lines)
    assert "test_sanitize.py" in frame_lines[-1]


def test_stack_has_no_absolute_paths() -> None:
    """No absolute path (home folders, venv locations) appears in a stack."""
    stack = sanitize_stack(_caught())
    assert stack is not None
    assert os.getcwd() not in stack
    assert sys.prefix not in stack
    assert not any(line.startswith(("/", "\\")) for line in stack.splitlines())


def test_stack_has_no_locals_or_source_lines() -> None:
    """Locals and source text never appear (literals in code cannot leak)."""
    stack = sanitize_stack(_caught())
    assert stack is not None
    assert "hunter2" not in stack
    assert "raise ValueError" not in stack
    assert "password" not in stack


def test_stack_sanitizes_the_exception_message() -> None:
    """The final line's message is redacted too."""
    stack = sanitize_stack(_caught(message="db password=hunter2 rejected"))
    assert stack is not None
    assert stack.splitlines()[-1] == f"ValueError: db password={REDACTED} rejected"


def test_stack_keeps_innermost_frames() -> None:
    """With more frames than max_frames, the innermost are kept and the rest counted."""
    exc = _caught(depth=30)
    full = sanitize_stack(exc, max_frames=1000)
    short = sanitize_stack(exc, max_frames=5)
    assert full is not None
    assert short is not None
    full_frames = full.splitlines()[:-1]
    short_lines = short.splitlines()
    assert short_lines[0] == f"... {len(full_frames) - 5} outer frame(s) omitted"
    assert short_lines[1:-1] == full_frames[-5:]
    assert short_lines[-1] == "ValueError: boom"


def test_stack_is_capped_in_length() -> None:
    """The whole text is capped, keeping its end (the innermost frames and the error)."""
    stack = sanitize_stack(_caught(depth=50), max_frames=1000, max_length=200)
    assert stack is not None
    assert stack.startswith("... ")
    assert len(stack) <= 204
    assert stack.endswith("ValueError: boom")


def test_stack_from_a_traceback_object() -> None:
    """A bare traceback gives frames without an error line."""
    exc = _caught()
    stack = sanitize_stack(exc.__traceback__)
    assert stack is not None
    assert stack.splitlines()[-1].endswith(" in _raise_in_helper")
    assert "ValueError" not in stack


@pytest.mark.parametrize("value", [None, ValueError("never raised")])
def test_stack_without_traceback_is_none(value: Any) -> None:
    """No traceback (None, or an exception never raised) gives None."""
    assert sanitize_stack(value) is None


def test_stack_skips_leading_plumbing_frames() -> None:
    """Outer frames matching skip_leading are dropped while they lead; inner ones stay."""
    exc = _caught(depth=2)
    kept = sanitize_stack(exc, skip_leading=())
    assert kept is not None
    first = kept.splitlines()[0].split(":")[0]
    dropped = sanitize_stack(exc, skip_leading=(first,))
    assert dropped is not None
    # Every frame here is in this test file, so all but the innermost one are dropped.
    assert dropped.splitlines()[:-1] == kept.splitlines()[-2:-1]


# ---------------------------------------------------------------- end to end


class S(GraphState, total=False):
    x: int


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Everything the package logs, with every field, at DEBUG and above."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(f"{record.getMessage()} {record.__dict__!r}")

    logger = logging.getLogger(LOGGER_NAME)
    handler = Keep(logging.DEBUG)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.mark.parametrize("on_error", ["record", "raise"])
def test_secret_never_reaches_state_logs_or_checkpoint(
    on_error: Any, log_lines: list[str], sqlite_connect: SqliteConnect
) -> None:
    """Secrets in a failing node's message reach neither state, nor logs, nor checkpoint bytes."""
    marker = uuid.uuid4().hex
    secrets = [
        f"sk-proj-{marker}",
        f"pw{marker}",
        f"Tok{marker}",
        f"url{marker}",
    ]
    message = (
        f"upstream rejected key {secrets[0]} with password={secrets[1]}; "
        f"Authorization: Bearer {secrets[2]}; dsn postgresql://app:{secrets[3]}@db/prod"
    )

    def call_api(state: S) -> S:
        raise ConnectionError(message)

    conn = sqlite_connect()
    builder = StateGraph(S)
    builder.add_node(
        "call_api",
        create_node(call_api, retry=RetryConfig(max_attempts=2), on_error=on_error),
    )
    builder.add_edge(START, "call_api")
    builder.add_edge("call_api", END)
    graph = builder.compile(checkpointer=SqliteSaver(conn))
    config = {"configurable": {"thread_id": f"t-{uuid.uuid4().hex}"}}

    with no_wait():
        if on_error == "record":
            result = graph.invoke({"x": 1}, config)
            assert result["errors"][0]["error_type"] == "ConnectionError"
            assert result["routing_flags"] == {"blocked": True}
        else:
            with pytest.raises(ConnectionError):
                graph.invoke({"x": 1}, config)

    exported = {
        "state": repr(graph.get_state(config).values),
        "logs": "\n".join(log_lines),
        "checkpoint": b"".join(
            value if isinstance(value, bytes) else str(value).encode()
            for table in ("checkpoints", "writes")
            for row in conn.execute(f"SELECT * FROM {table}")
            for value in row
        ).decode("latin-1"),
    }
    assert any("node.failed" in line for line in log_lines)
    assert exported["checkpoint"]
    for where, text in exported.items():
        for secret in secrets:
            assert secret not in text, (where, secret)
        assert marker not in text, where


def test_stack_touches_no_file_system(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a stack makes no blocking call (langgraph dev refuses them on its event loop)."""
    import os as _os

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"blocking call with {args}")

    try:
        raise ValueError("password=hunter2 oops")
    except ValueError as exc:
        error = exc
    for name in ("stat", "lstat", "readlink", "getcwd", "listdir", "scandir", "open"):
        monkeypatch.setattr(_os, name, boom)
    for name in ("abspath", "realpath", "isdir", "exists", "islink"):
        monkeypatch.setattr(_os.path, name, boom)
    monkeypatch.setattr("builtins.open", boom)
    stack = sanitize_stack(error)
    monkeypatch.undo()
    assert stack is not None
    assert "test_stack_touches_no_file_system" in stack
    assert "tests/records/test_sanitize.py" in stack or "test_sanitize.py" in stack
    assert "hunter2" not in stack


@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit, RuntimeError, RecursionError])
def test_a_raising_str_never_escapes_the_sanitizer(raised: type[BaseException]) -> None:
    """A __str__ raising anything (even KeyboardInterrupt) gives a placeholder, not a crash."""

    class Hostile(Exception):
        def __str__(self) -> str:
            raise raised

    assert sanitize_message(Hostile("x")) == "<unprintable Hostile>"
    assert sanitize_stack(Hostile("x")) is None


def test_a_100_mb_message_is_cut_before_it_is_scanned() -> None:
    """A huge message gives a capped result with the count of what was cut."""
    out = sanitize_message("password=" + "a" * 100_000_000, max_length=50)
    assert out.startswith("password=[REDACTED]")
    assert out.endswith("more chars]")
    assert len(out) < 100


def test_stack_of_a_repeated_failure_is_the_same_and_each_site_keeps_its_own() -> None:
    """Frame lines are reused per call site: same site, same text; equal code elsewhere differs."""
    source = "def boom():\n    raise ValueError('x')\n"
    stacks = []
    for filename in ("first_module.py", "second_module.py", "first_module.py"):
        namespace: dict[str, Any] = {}
        exec(compile(source, filename, "exec"), namespace)  # equal code objects, two files
        try:
            namespace["boom"]()
        except ValueError as exc:
            stacks.append(sanitize_stack(exc))
    assert stacks[0] is not None and "first_module.py:2 in boom" in stacks[0]
    assert stacks[1] is not None and "second_module.py:2 in boom" in stacks[1]
    assert "first_module.py" not in stacks[1]
    assert stacks[2] == stacks[0]


# ---------------------------------------------------------------- key names, any spelling


def test_key_names_include_detect_secrets_keyword_denylist() -> None:
    """Every keyword detect-secrets 1.5.0 flags is a secret key name here, normalised."""
    keyword = pytest.importorskip("detect_secrets.plugins.keyword")
    from langgraph_runner._records.redaction_rules import DETECT_SECRETS_KEY_NAMES, SECRET_KEYS

    upstream = {name.replace("_?", "") for name in keyword.DENYLIST}
    assert upstream == {"".join(words) for words in DETECT_SECRETS_KEY_NAMES}
    assert upstream <= set(SECRET_KEYS)


@pytest.mark.parametrize(
    "key",
    [
        "accessToken", "clientSecret", "secretAccessKey", "PGPASSWORD", "refreshToken",
        "apiKey", "ApiKey", "x-api-key", "X_API_KEY", "client-secret", "db.password",
        "AWSSECRETACCESSKEY", "privateKey", "sessionId", "set-cookie", "Set-Cookie",
        "contraseña",
    ],
)  # fmt: skip
def test_key_names_match_in_any_case_and_separator(key: str) -> None:
    """camelCase, PascalCase, run-together, kebab, snake and dotted keys are all redacted."""
    from langgraph_runner._records.redaction_rules import is_secret_key

    assert is_secret_key(key)
    assert is_secret_key(key.encode())
    out = sanitize_message(f"{key}=Sh0uldV4nish and more")
    assert "Sh0uldV4nish" not in out and out.startswith(key)


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("postgresql://app:Sl4sh/Pw9x@db/prod", "Sl4sh/Pw9x"),
        ("redis://:H4sh#Pa?ss99@cache:6379/0", "H4sh#Pa?ss99"),
        ('{"password": "Esc\\"Qu0teTail99"}', "Qu0teTail99"),
        ("{'set-cookie': 'sid=C00kieSess10n; Path=/'}", "C00kieSess10n"),
        ("(('Authorization', 'Digest Au7hD1gest'),)", "Au7hD1gest"),
        ("{b'password': b'By7esKeyPw'}", "By7esKeyPw"),
    ],
)
def test_url_json_cookie_tuple_and_bytes_shapes(message: str, secret: str) -> None:
    """URL passwords with / # ?, escaped quotes, cookie dict reprs, header tuples, bytes reprs."""
    assert secret not in sanitize_message(message)


@pytest.mark.parametrize(
    "key", ["max_tokens", "prompt_tokens", "author", "password_hash", "KeyError"]
)
def test_look_alike_keys_are_not_secret(key: str) -> None:
    """Keys that merely contain a secret word (not ending with one) are left alone."""
    from langgraph_runner._records.redaction_rules import is_secret_key

    assert not is_secret_key(key)
