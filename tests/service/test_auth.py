"""Tests for langgraph_runner._service.auth: who the tenant is.

``langgraph_server_auth`` is checked behind Starlette's ``AuthenticationMiddleware``, the
middleware LangGraph Server wraps its custom routes in: it puts the authenticated user on
``scope["user"]``. (tests/service/test_langgraph_server.py runs it under ``langgraph dev``.)
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
    UnauthenticatedUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

from langgraph_runner.service import Unauthenticated, api_key_auth, langgraph_server_auth


class _Member(SimpleUser):
    """A server user carrying more than its identity (what ``Auth.authenticate`` may return)."""

    def __init__(self, username: str, org: str) -> None:
        super().__init__(username)
        self.org = org

    def __getitem__(self, key: str) -> Any:
        return {"identity": self.username, "org": self.org}[key]

    @property
    def identity(self) -> str:
        return self.username


class _Bearer(AuthenticationBackend):
    """``Authorization: Bearer <name>`` -> that user; no header -> the unauthenticated user."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return AuthCredentials(), UnauthenticatedUser()
        name = header.removeprefix("Bearer ")
        return AuthCredentials(["authenticated"]), _Member(name, org=f"org-of-{name}")


def _client(authenticate: Any, *, middleware: bool = True) -> TestClient:
    stack = [Middleware(AuthenticationMiddleware, backend=_Bearer())] if middleware else []
    app = FastAPI(middleware=stack)

    @app.get("/tenant")
    def tenant(request: Request) -> dict[str, str]:
        try:
            return {"tenant": authenticate(request)}
        except Unauthenticated as exc:
            return {"refused": str(exc), "field": exc.field}

    return TestClient(app)


def test_the_servers_user_names_the_tenant() -> None:
    client = _client(langgraph_server_auth())
    assert client.get("/tenant", headers={"Authorization": "Bearer acme"}).json() == {
        "tenant": "acme"
    }


def test_the_servers_user_wins_over_an_api_key() -> None:
    client = _client(langgraph_server_auth(api_keys={"k": "from-key"}))
    both = {"Authorization": "Bearer acme", "X-API-Key": "k"}
    assert client.get("/tenant", headers=both).json() == {"tenant": "acme"}


def test_claim_picks_another_field_of_the_user() -> None:
    client = _client(langgraph_server_auth(claim="org"))
    got = client.get("/tenant", headers={"Authorization": "Bearer acme"}).json()
    assert got == {"tenant": "org-of-acme"}


def test_a_claim_the_user_lacks_is_no_identity() -> None:
    client = _client(langgraph_server_auth(claim="team"))
    got = client.get("/tenant", headers={"Authorization": "Bearer acme"}).json()
    assert got["field"] == "Authorization"


def test_an_unauthenticated_user_with_an_identity_names_no_tenant() -> None:
    """Like LangGraph Studio's user on a dev server: an identity, but not authenticated."""

    class _Guest(UnauthenticatedUser):
        identity = "langgraph-studio-user"

    class _Req:
        def __init__(self) -> None:
            self.scope = {"user": _Guest()}
            self.headers = {"X-API-Key": "k"}

    assert langgraph_server_auth(api_keys={"k": "from-key"})(_Req()) == "from-key"
    with pytest.raises(Unauthenticated):
        langgraph_server_auth()(_Req())


@pytest.mark.parametrize("middleware", [True, False], ids=["unauthenticated-user", "no-auth"])
def test_without_a_server_user_the_api_key_names_the_tenant(middleware: bool) -> None:
    client = _client(langgraph_server_auth(api_keys={"k": "from-key"}), middleware=middleware)
    assert client.get("/tenant", headers={"X-API-Key": "k"}).json() == {"tenant": "from-key"}
    assert client.get("/tenant", headers={"X-API-Key": "nope"}).json()["field"] == "X-API-Key"


@pytest.mark.parametrize("middleware", [True, False], ids=["unauthenticated-user", "no-auth"])
def test_without_a_server_user_or_api_keys_the_request_is_unauthenticated(
    middleware: bool,
) -> None:
    client = _client(langgraph_server_auth(), middleware=middleware)
    got = client.get("/tenant", headers={"X-API-Key": "k"}).json()
    assert got == {
        "refused": "no authenticated user from LangGraph Server's auth",
        "field": "Authorization",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"claim": ""}, "claim must be a non-empty string"),
        ({"api_keys": {}}, "keys must be a non-empty mapping"),
    ],
)
def test_bad_settings_are_refused_naming_them(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        langgraph_server_auth(**kwargs)


def test_api_key_auth_refuses_a_missing_or_unknown_key() -> None:
    client = _client(api_key_auth({"k": "t"}), middleware=False)
    assert client.get("/tenant", headers={"X-API-Key": "k"}).json() == {"tenant": "t"}
    assert client.get("/tenant").json()["refused"] == "missing X-API-Key header"
    assert (
        client.get("/tenant", headers={"X-API-Key": "x"}).json()["refused"] == "unknown X-API-Key"
    )
