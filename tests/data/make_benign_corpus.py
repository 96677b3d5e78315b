# ruff: noqa: E501
"""Write tests/data/benign_corpus.json: error messages without secrets, from real libraries.

Each message is made by triggering the error in the installed library (httpx, requests,
psycopg, redis, openai, anthropic, pydantic, sqlalchemy, the standard library) where
that can be done without a network: HTTP answers come from ``httpx.MockTransport``
with bodies shaped like the providers' documented error bodies; PostgreSQL and Redis
errors come from the local services (left out when one is not running). A few
hand-written messages cover shapes the libraries print with ids, hashes and paths.

    python tests/data/make_benign_corpus.py

Needs the ``dev`` extras (openai, anthropic and sqlalchemy included).
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import anthropic
import httpx
import httpx2  # what the anthropic SDK is built on
import openai
import pydantic
import requests
import sqlalchemy as sa
import sqlalchemy.orm

OUT = Path(__file__).with_name("benign_corpus.json")
CORPUS: list[dict[str, str]] = []


def add(source: str, fn: Callable[[], Any]) -> None:
    """Run ``fn``; record the error it raises as ``"<Type>: <message>"``."""
    try:
        fn()
    except BaseException as exc:
        CORPUS.append({"source": source, "message": f"{type(exc).__name__}: {exc}"})
    else:
        print(f"{source}: no error raised, left out", file=sys.stderr)


# ---------------------------------------------------------------- httpx


def _mock(status: int, body: Any, headers: dict[str, str] | None = None, http: Any = httpx) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.MockTransport(
        lambda request: http.Response(status, content=content, headers=headers)
    )


def _raising(exc: type[Exception], text: str) -> Any:
    http = httpx2 if exc.__module__.startswith("httpx2") else httpx

    def handler(request: Any) -> Any:
        raise exc(text, request=request)  # type: ignore[call-arg]

    return http.MockTransport(handler)


URLS = [
    "https://api.example.com/v1/items/42",
    "https://api.github.com/repos/acme/widgets/pulls?state=open&per_page=100",
    "https://storage.googleapis.com/acme-bucket/reports/2026-11-25.csv",
    "https://acme.blob.core.windows.net/container/file.json",
    "http://localhost:8080/healthz",
    "https://search.example.org/q?query=langgraph+retry&page=3",
    "https://hooks.example.com/services/notify",
    "https://api.weather.example/v2/forecast?lat=52.52&lon=13.40",
]


def httpx_errors() -> None:
    for status in (400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504):
        for url in URLS if status in (404, 500, 503) else URLS[:4]:
            client = httpx.Client(transport=_mock(status, {"error": "x"}))
            add("httpx", lambda c=client, u=url: c.get(u).raise_for_status())  # type: ignore[misc]
    for exc, text in (
        (httpx.ConnectError, "[Errno 111] Connection refused"),
        (httpx.ConnectError, "[Errno -2] Name or service not known"),
        (httpx.ConnectTimeout, "timed out"),
        (httpx.ReadTimeout, "The read operation timed out"),
        (httpx.RemoteProtocolError, "Server disconnected without sending a response."),
        (httpx.ReadError, "[Errno 104] Connection reset by peer"),
        (httpx.PoolTimeout, "timed out"),
    ):
        client = httpx.Client(transport=_raising(exc, text))
        add("httpx", lambda c=client: c.get(URLS[0]))  # type: ignore[misc]
    add("httpx", lambda: httpx.get("ftp://files.example.com/x"))
    add("httpx", lambda: httpx.Client().get("not a url"))
    add("httpx", lambda: httpx.URL("https://exa mple.com:99999/"))
    client = httpx.Client(
        transport=_mock(302, b"", {"location": "https://api.example.com/loop"}),
        follow_redirects=True,
        max_redirects=3,
    )
    add("httpx", lambda: client.get("https://api.example.com/loop"))
    add("httpx", lambda: httpx.Client(transport=_mock(200, b"<html>")).get(URLS[0]).json())


# ---------------------------------------------------------------- requests


def requests_errors() -> None:
    add("requests", lambda: requests.get("http://127.0.0.1:1/api/v1/items", timeout=2))
    add("requests", lambda: requests.get("https://localhost:1/", timeout=2))
    add("requests", lambda: requests.get("api.example.com/v1", timeout=2))
    add("requests", lambda: requests.get("gopher://example.com/", timeout=2))
    add("requests", lambda: requests.get("http://", timeout=2))
    add("requests", lambda: requests.get("http://exa mple.com:abc/", timeout=2))
    for status, reason in (
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (429, "Too Many Requests"),
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
    ):
        for url in URLS[2:7]:
            response = requests.Response()
            response.status_code, response.reason, response.url = status, reason, url
            add("requests", response.raise_for_status)
    response = requests.Response()
    response._content = b"<!doctype html><title>502</title>"
    add("requests", response.json)


# ---------------------------------------------------------------- openai and anthropic

OPENAI_BODIES = [
    (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ),
    (
        400,
        {
            "error": {
                "message": "Invalid value for 'temperature': must be between 0 and 2.",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": None,
            }
        },
    ),
    (
        400,
        {
            "error": {
                "message": "Unrecognized request argument supplied: functions_x",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    ),
    (
        400,
        {
            "error": {
                "message": "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: call_Qm1bC3vXy7ZkL9pT2sR8wN4d",
                "type": "invalid_request_error",
                "param": "messages.[2].role",
                "code": None,
            }
        },
    ),
    (
        401,
        {
            "error": {
                "message": "Incorrect API key provided: sk-proj-********************************************Ab3x. You can find your API key at https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
    ),
    (
        403,
        {
            "error": {
                "message": "You are not allowed to sample from this model",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    ),
    (
        404,
        {
            "error": {
                "message": "The model `gpt-9-turbo` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            }
        },
    ),
    (
        429,
        {
            "error": {
                "message": "Rate limit reached for gpt-4o in organization org-AbCdEf123456 on tokens per min (TPM): Limit 30000, Used 29800, Requested 1200. Please try again in 2.4s. Visit https://platform.openai.com/account/rate-limits to learn more.",
                "type": "tokens",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
    ),
    (
        429,
        {
            "error": {
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        },
    ),
    (
        500,
        {
            "error": {
                "message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
    ),
    (
        503,
        {
            "error": {
                "message": "The engine is currently overloaded, please try again later",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
    ),
    (
        400,
        {
            "error": {
                "message": "Invalid schema for function 'search_docs': In context=('properties', 'limit'), 'minimum' is not permitted.",
                "type": "invalid_request_error",
                "param": "tools[0].function.parameters",
                "code": "invalid_function_parameters",
            }
        },
    ),
    (
        400,
        {
            "error": {
                "message": "Invalid 'messages[1].content': string too long. Expected a string with maximum length 10485760, but got a string with length 12000000 instead.",
                "type": "invalid_request_error",
                "param": "messages[1].content",
                "code": "string_above_max_length",
            }
        },
    ),
    (
        400,
        {
            "error": {
                "message": "Your request was rejected as a result of our safety system.",
                "type": "invalid_request_error",
                "param": None,
                "code": "content_policy_violation",
            }
        },
    ),
    (
        400,
        {
            "error": {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "unsupported_parameter",
            }
        },
    ),
    (
        404,
        {
            "error": {
                "message": "No such File object: file-8Jq2VcT1nK5xR7mW3pL9sD4a",
                "type": "invalid_request_error",
                "param": "id",
                "code": None,
            }
        },
    ),
    (
        409,
        {
            "error": {
                "message": "Run run_abc123 is already active on thread thread_xyz789.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    ),
    (
        429,
        {
            "error": {
                "message": "Rate limit reached for text-embedding-3-small in organization org-AbCdEf123456 on requests per min (RPM): Limit 3000, Used 3000, Requested 1. Please try again in 20ms.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
    ),
    (
        502,
        {
            "error": {
                "message": "Bad gateway.",
                "type": "cf_bad_gateway",
                "param": None,
                "code": 502,
            }
        },
    ),
]
ANTHROPIC_BODIES = [
    (
        400,
        "invalid_request_error",
        'messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row',
    ),
    (400, "invalid_request_error", "prompt is too long: 215312 tokens > 200000 maximum"),
    (
        400,
        "invalid_request_error",
        "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5",
    ),
    (
        400,
        "invalid_request_error",
        "messages.1.content.0.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'",
    ),
    (401, "authentication_error", "invalid x-api-key"),
    (
        403,
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    (404, "not_found_error", "model: claude-9-opus"),
    (413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
    (
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization (7f3c2a1e-5b6d-4c8e-9a0f-1b2c3d4e5f60) of 50,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    (500, "api_error", "Internal server error"),
    (529, "overloaded_error", "Overloaded"),
    (
        400,
        "invalid_request_error",
        "tools.0.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft 2020-12",
    ),
    (
        400,
        "invalid_request_error",
        "messages.3: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01A09q90qw90lq917835lq9",
    ),
    (
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
    ),
    (400, "invalid_request_error", "temperature: range: 0..1"),
    (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    (504, "timeout_error", "Request timed out"),
]


def _request_id(n: int) -> str:
    return "req_011C" + uuid.UUID(int=n * 7919 + 12345).hex[:20].upper()


def provider_errors() -> None:
    for status, body in OPENAI_BODIES:
        for model in ("gpt-4o", "gpt-4o-mini"):
            headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
            client = openai.OpenAI(
                api_key="test",
                max_retries=0,
                http_client=httpx.Client(transport=_mock(status, body, headers)),  # type: ignore[arg-type]
            )
            add(
                "openai",
                lambda c=client, m=model: c.chat.completions.create(  # type: ignore[misc]
                    model=m, messages=[{"role": "user", "content": "hi"}]
                ),
            )
    for i, (status, kind, message) in enumerate(ANTHROPIC_BODIES):
        body = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": _request_id(i),
        }
        for model in ("claude-sonnet-4-6", "claude-haiku-4-5"):
            client2 = anthropic.Anthropic(
                api_key="test",
                max_retries=0,
                http_client=httpx2.Client(transport=_mock(status, body, http=httpx2)),
            )
            add(
                "anthropic",
                lambda c=client2, m=model: c.messages.create(  # type: ignore[misc]
                    model=m, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
                ),
            )
    for exc, exc2, text in (
        (httpx.ConnectError, httpx2.ConnectError, "[Errno 111] Connection refused"),
        (httpx.ReadTimeout, httpx2.ReadTimeout, "timed out"),
    ):
        oc = openai.OpenAI(
            api_key="test",
            max_retries=0,
            http_client=httpx.Client(transport=_raising(exc, text)),  # type: ignore[arg-type]
        )
        add("openai", lambda c=oc: c.models.list())  # type: ignore[misc]
        ac = anthropic.Anthropic(
            api_key="test", max_retries=0, http_client=httpx2.Client(transport=_raising(exc2, text))
        )
        add("anthropic", lambda c=ac: c.models.list())  # type: ignore[misc]
    add("openai", lambda: openai.OpenAI(api_key=None, base_url="https://x").models.list())


# ---------------------------------------------------------------- pydantic


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(pydantic.BaseModel):
    street: str
    city: str = pydantic.Field(min_length=2)
    zip_code: str = pydantic.Field(pattern=r"^\d{5}$")


class User(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    id: int
    name: str = pydantic.Field(max_length=20)
    email: str
    age: int = pydantic.Field(ge=0, le=150)
    score: float
    active: bool
    color: Color
    tags: list[str]
    created: datetime.datetime
    birthday: datetime.date
    website: pydantic.HttpUrl
    address: Address
    kind: Literal["admin", "member"]
    ratio: decimal.Decimal = pydantic.Field(max_digits=4, decimal_places=2)
    ident: uuid.UUID


GOOD: dict[str, Any] = {
    "id": 1,
    "name": "Ada",
    "email": "ada@example.com",
    "age": 36,
    "score": 1.5,
    "active": True,
    "color": "red",
    "tags": ["a"],
    "created": "2026-11-25T06:00:00Z",
    "birthday": "1990-12-10",
    "website": "https://example.com",
    "address": {"street": "Main St 1", "city": "Berlin", "zip_code": "10115"},
    "kind": "admin",
    "ratio": "1.25",
    "ident": "123e4567-e89b-12d3-a456-426614174000",
}
BAD_VALUES: dict[str, list[Any]] = {
    "id": ["abc", 1.5, None, "9" * 30, [1]],
    "name": ["x" * 40, 5, None],
    "email": [None, 3],
    "age": [-1, 200, "old", 1e20],
    "score": ["fast", None, "nan-ish"],
    "active": ["maybe", 3, None],
    "color": ["blue", 1, "RED"],
    "tags": ["solo", [1, None], {"a": 1}],
    "created": ["yesterday", "2026-13-01T00:00:00", 1e30],
    "birthday": ["2026-02-30", "tomorrow", 12.5],
    "website": ["not a url", "ftp://example.com", "http://", "https://exa mple.com"],
    "address": ["Berlin", {"street": "x"}, {"street": "x", "city": "B", "zip_code": "1"}],
    "kind": ["root", None],
    "ratio": ["12.345", "abc", "123.4"],
    "ident": ["not-a-uuid", "123e4567", 42],
}


def pydantic_errors() -> None:
    for field, values in BAD_VALUES.items():
        for value in values:
            add("pydantic", lambda f=field, v=value: User.model_validate({**GOOD, f: v}))  # type: ignore[misc]
    for field in ("email", "address", "ident"):
        add(
            "pydantic",
            lambda f=field: User.model_validate({k: v for k, v in GOOD.items() if k != f}),  # type: ignore[misc]
        )
    add("pydantic", lambda: User.model_validate({**GOOD, "unexpected": 1}))
    add("pydantic", lambda: User.model_validate_json('{"id": 1,'))
    add("pydantic", lambda: User.model_validate({}))
    add("pydantic", lambda: pydantic.TypeAdapter(list[int]).validate_python(["1", "x", None]))
    add("pydantic", lambda: pydantic.TypeAdapter(dict[str, float]).validate_json('{"a": "b"}'))
    add("pydantic", lambda: pydantic.TypeAdapter(int | list[int]).validate_python("x"))


# ---------------------------------------------------------------- sqlalchemy


def sqlalchemy_errors() -> None:
    engine = sa.create_engine("sqlite://")
    meta = sa.MetaData()
    sa.Table(
        "users",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String, unique=True, nullable=False),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (id, email) VALUES (1, 'a@example.com')"))

    def run(sql: str) -> Callable[[], Any]:
        def go() -> Any:
            with engine.begin() as conn:
                return conn.execute(sa.text(sql))

        return go

    for sql in (
        "SELECT * FROM orders",
        "SELECT nope FROM users",
        "INSERT INTO users (id, email) VALUES (1, 'b@example.com')",
        "INSERT INTO users (id, email) VALUES (2, 'a@example.com')",
        "INSERT INTO users (id) VALUES (3)",
        "SELEC 1",
        "SELECT * FROM users WHERE",
        "DROP TABLE missing_table",
        "CREATE TABLE users (id INTEGER)",
        "SELECT json_extract('{', '$.a')",
    ):
        add("sqlalchemy", run(sql))
    add("sqlalchemy", lambda: sa.create_engine("nosuchdb://user@host/db"))
    add("sqlalchemy", lambda: sa.create_engine("postgresql+nosuchdriver://app@db/prod"))
    add("sqlalchemy", lambda: sa.create_engine("not a url"))
    add("sqlalchemy", lambda: sa.create_engine("sqlite:///nonexistent/dir/app.db").connect())
    add("sqlalchemy", lambda: sa.Table("users", meta))
    add("sqlalchemy", lambda: sa.select(sa.column("a")).where("a = 1"))  # type: ignore[arg-type]
    session_cls = sa.orm.sessionmaker(engine)
    add("sqlalchemy", lambda: session_cls().execute(sa.text("SELECT * FROM ghosts")))
    pg = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    for sql in ("SELECT * FROM no_such_table_xyz", "SELECT 1/0", "SELECT 'abc'::int", "SELEC 1"):

        def on_pg(s: str = sql) -> Any:
            with pg.begin() as conn:
                return conn.execute(sa.text(s))

        add("sqlalchemy", on_pg)


# ---------------------------------------------------------------- psycopg and redis (local services)


def psycopg_errors() -> None:
    import psycopg

    dsn = "postgresql://postgres@127.0.0.1:5432/test"
    add(
        "psycopg",
        lambda: psycopg.connect("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2),
    )
    add(
        "psycopg",
        lambda: psycopg.connect("postgresql://postgres@127.0.0.1:5432/no_such_database_xyz"),
    )
    add("psycopg", lambda: psycopg.connect("host=/nonexistent/socket dbname=test"))
    add("psycopg", lambda: psycopg.connect("not a dsn at all"))
    statements = [
        "SELECT * FROM no_such_table",
        "SELECT no_such_column FROM pg_class",
        "SELECT 1/0",
        "SELECT 'abc'::int",
        "SELECT '2026-13-45'::date",
        "SELEC 1",
        "SELECT * FROM pg_class WHERE",
        "CREATE TABLE pg_class (id int)",
        "SELECT nosuchfunction(1)",
        "SELECT 1 + 'a'",
        "SELECT ARRAY[1,2][5]::text::int",
        "SELECT '{\"a\":}'::jsonb",
        "SELECT repeat('x', -1)::int",
        "SELECT 2147483647::int + 1",
        "SELECT '999999999999999999999'::bigint",
        "SELECT pg_sleep(0.2) FROM generate_series(1,1) -- cancelled by statement_timeout",
        "DROP TABLE no_such_table",
        "ALTER TABLE no_such_table ADD COLUMN x int",
        "INSERT INTO no_such_table VALUES (1)",
        "SELECT * FROM generate_series(1,3) AS g(a) JOIN generate_series(1,3) AS h(a) USING (b)",
        "SELECT substring('abc' from -1 for -1)",
        "SELECT 'x'::uuid",
        "SELECT '1.2.3.4.5'::inet",
        "SELECT to_timestamp('abc', 'YYYY')",
        "SELECT ln(0)",
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '50ms'")
        conn.execute(
            "CREATE TEMP TABLE t (id int PRIMARY KEY, email text UNIQUE NOT NULL, n int CHECK (n > 0))"
        )
        conn.execute("INSERT INTO t VALUES (1, 'a@example.com', 1)")
        statements += [
            "INSERT INTO t VALUES (1, 'b@example.com', 1)",
            "INSERT INTO t VALUES (2, 'a@example.com', 1)",
            "INSERT INTO t (id, n) VALUES (3, 1)",
            "INSERT INTO t VALUES (4, 'c@example.com', -5)",
            "UPDATE t SET id = 'x'",
        ]
        for sql in statements:
            add("psycopg", lambda s=sql: conn.execute(s))  # type: ignore[misc]


def redis_errors() -> None:
    import redis

    add("redis", lambda: redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=2).ping())
    add(
        "redis",
        lambda: redis.Redis(
            host="no-such-host.invalid", port=6379, socket_connect_timeout=2
        ).ping(),
    )
    add("redis", lambda: redis.Redis.from_url("redis://127.0.0.1:6379/99999").ping())
    add(
        "redis",
        lambda: redis.Redis.from_url("rediss://127.0.0.1:6379/0", socket_connect_timeout=2).ping(),
    )
    add("redis", lambda: redis.Redis.from_url("http://127.0.0.1:6379/0"))
    r = redis.Redis(host="127.0.0.1", port=6379)
    key = f"benign-corpus-{uuid.uuid4().hex}"
    r.set(key, "text", ex=60)
    add("redis", lambda: r.lpush(key, "x"))
    add("redis", lambda: r.incr(key))
    add("redis", lambda: r.hget(key, "f"))
    add("redis", lambda: r.execute_command("NOSUCHCOMMAND"))  # type: ignore[no-untyped-call]
    add("redis", lambda: r.execute_command("SET"))  # type: ignore[no-untyped-call]
    add("redis", lambda: r.expire(key, "soon"))  # type: ignore[arg-type]
    add("redis", lambda: r.eval("return redis.call('nosuch')", 0))
    add("redis", lambda: r.eval("this is not lua", 0))
    add("redis", lambda: r.evalsha("0" * 40, 0))
    add("redis", lambda: r.xadd(key, {"a": 1}))
    add("redis", lambda: r.zadd(key, {"a": "b"}))
    add("redis", lambda: r.setex(key, -5, "v"))
    add("redis", lambda: r.execute_command("CONFIG", "SET", "nosuchparam", "1"))  # type: ignore[no-untyped-call]
    add("redis", lambda: r.execute_command("AUTH", "default"))  # type: ignore[no-untyped-call]
    add("redis", lambda: r.execute_command("SELECT", "not-a-number"))  # type: ignore[no-untyped-call]
    r.delete(key)


# ---------------------------------------------------------------- the standard library and asyncio


def stdlib_errors() -> None:
    add("stdlib", lambda: json.loads('{"a": 1,}'))
    add("stdlib", lambda: json.loads("<html><body>502 Bad Gateway</body></html>"))
    add("stdlib", lambda: {"a": 1}["missing_key"])
    add("stdlib", lambda: [1, 2][5])
    add("stdlib", lambda: int("forty-two"))
    add("stdlib", lambda: open("/nonexistent/path/config.yaml"))  # noqa: SIM115
    add("stdlib", lambda: __import__("no_such_module_xyz"))
    add("stdlib", lambda: datetime.datetime.fromisoformat("25/11/2026"))
    add("stdlib", lambda: None.upper())  # type: ignore[attr-defined]
    add("stdlib", lambda: asyncio.run(asyncio.wait_for(asyncio.sleep(1), 0.001)))
    add("stdlib", lambda: uuid.UUID("not-a-uuid"))
    add("stdlib", lambda: decimal.Decimal("1.2.3"))
    add("stdlib", lambda: 1 / 0)


# ---------------------------------------------------------------- written by hand: ids, hashes, paths

HAND_WRITTEN = [
    "TimeoutError: node 'fetch_docs' timed out after 30.0s (trace_id=4bf92f3577b34da6a3ce929d0e0e4736)",
    "RuntimeError: checkpoint 1ef9c2a4-7b3d-6e10-8000-5f0c9b2d7a41 not found for thread thread-7c1e",
    "ValueError: commit 3f786850e387550fdab836ed7e6dc881de23001b does not contain pyproject.toml",
    "FileNotFoundError: [Errno 2] No such file or directory: '/srv/app/data/exports/2026-11-25/report_final_v2.parquet'",
    "OSError: [Errno 28] No space left on device: '/var/lib/postgresql/16/main/base/16384/2619'",
    "ImportError: cannot import name 'ChatOpenAI' from 'langchain_openai' (/usr/lib/python3.12/site-packages/langchain_openai/__init__.py)",
    "KeyError: 'OPENAI_API_KEY'",
    "ValueError: Did not find openai_api_key, please add an environment variable `OPENAI_API_KEY` which contains it, or pass `openai_api_key` as a named parameter.",
    "RateLimitError: Error code: 429 - request req_7f3a2b1c9d8e4f5a6b7c8d9e0f1a2b3c was throttled",
    "AssertionError: expected 3 documents, got 2 (collection=embeddings_text-embedding-3-small)",
    "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the GetObject operation: Access Denied",
    "botocore.exceptions.NoCredentialsError: Unable to locate credentials",
    "google.api_core.exceptions.NotFound: 404 GET https://storage.googleapis.com/storage/v1/b/acme-data/o/raw%2F2026%2F11%2F25.json: No such object: acme-data/raw/2026/11/25.json",
    "ConnectionError: HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded with url: /v1/embeddings (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f8b2c3d4e50>: Failed to establish a new connection: [Errno 111] Connection refused'))",
    "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)",
    "docker.errors.ImageNotFound: 404 Client Error for http+docker://localhost/v1.45/images/ghcr.io/acme/worker:sha-9f2c1ab/json: Not Found",
    "ValueError: Unknown tokenizer 'cl100k_base_v2'; expected one of o200k_base, cl100k_base, p50k_base",
    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity; 21.10 GiB already allocated)",
    "ValueError: The embedding dimension 1536 does not match the index dimension 3072 (index=docs-prod-2026)",
    "TypeError: Object of type datetime is not JSON serializable",
    "langgraph.errors.GraphRecursionError: Recursion limit of 25 reached without hitting a stop condition. You can increase the limit by setting the `recursion_limit` config key.",
    "langgraph.errors.InvalidUpdateError: At key 'messages': Can receive only one value per step. Use an Annotated key to handle multiple values.",
    "ValueError: Checkpointer requires one or more of the following 'configurable' keys: thread_id, checkpoint_ns, checkpoint_id",
    "kafka.errors.NoBrokersAvailable: NoBrokersAvailable",
    'grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with: status = StatusCode.UNAVAILABLE details = "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.3.7:50051: Failed to connect to remote host: Connection refused">',
    "jwt.exceptions.ExpiredSignatureError: Signature has expired",
    "ValueError: token has expired; call refresh() before retrying",
    "PermissionError: the service account lacks the role roles/storage.objectViewer on bucket acme-data",
    "AttributeError: 'NoneType' object has no attribute 'content'",
    "ValueError: Invalid format specifier '.2f' for object of type 'str'",
    "RuntimeError: Event loop is closed",
    "asyncio.exceptions.CancelledError: Task was destroyed but it is pending! task: <Task pending name='Task-42' coro=<fetch() running at /app/src/pipeline/fetch.py:88>>",
    "ValueError: basic configuration problem: missing section [tool.app] in pyproject.toml",
    "ValueError: invalid password policy: must be at least 12 characters",
    "ValueError: the secret manager returned no value for name 'prod/db'",
    "RuntimeError: session expired for user 42; please sign in again",
    "HTTPError: 404 Client Error: Not Found for url: https://huggingface.co/api/models/sentence-transformers/all-MiniLM-L6-v3",
    "ValueError: Unsupported model 'text-embedding-ada-003'. Available: text-embedding-3-small, text-embedding-3-large",
    "ToolException: Error executing tool search_web: 'NoneType' object is not iterable",
    "OutputParserException: Could not parse LLM output: `I think the answer is 42`",
    "ValueError: Message dict must contain 'role' and 'content' keys, got {'type': 'human', 'text': 'hi'}",
]


def main() -> None:
    """Regenerate the corpus file."""
    for make in (
        httpx_errors,
        requests_errors,
        provider_errors,
        pydantic_errors,
        sqlalchemy_errors,
        stdlib_errors,
    ):
        make()
    for make in (psycopg_errors, redis_errors):
        try:
            make()
        except Exception as exc:  # a service is not running: its samples are left out
            print(f"skipped {make.__name__}: {exc}", file=sys.stderr)
    CORPUS.extend({"source": "hand-written", "message": text} for text in HAND_WRITTEN)
    seen: set[str] = set()
    unique = [e for e in CORPUS if not (e["message"] in seen or seen.add(e["message"]))]  # type: ignore[func-returns-value]
    OUT.write_text(json.dumps(unique, indent=1, ensure_ascii=False) + "\n")
    by_source: dict[str, int] = {}
    for entry in unique:
        by_source[entry["source"]] = by_source.get(entry["source"], 0) + 1
    print(f"{len(unique)} messages: {by_source}")


if __name__ == "__main__":
    main()
