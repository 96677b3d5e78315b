"""``langgraph-runner serve MODULE[:APP]`` (langgraph_runner._cli.serve) and examples/service.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from langgraph_runner._cli.main import main
from langgraph_runner._cli.serve import load_app
from langgraph_runner._records.exceptions import CommandError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "service.py"


def test_serve_hands_the_example_app_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command loads MODULE's app and serves it on the host and port asked for."""
    import uvicorn

    served: list[tuple[Any, str, int]] = []
    monkeypatch.setenv("SERVICE_DB", str(tmp_path / "service.db"))
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port: served.append((app, host, port)))
    assert main(["serve", str(EXAMPLE), "--host", "0.0.0.0", "--port", "8123"]) == 0
    [(app, host, port)] = served
    assert (host, port) == ("0.0.0.0", 8123)
    assert type(app).__name__ == "FastAPI"


def test_serve_workers_0_serves_the_api_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--workers 0: runs are queued, none executed by the serving process."""
    import uvicorn

    served: list[Any] = []
    monkeypatch.setenv("SERVICE_DB", str(tmp_path / "service.db"))
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port: served.append(app))
    assert main(["serve", str(EXAMPLE), "--workers", "0"]) == 0
    [app] = served
    key = {"X-API-Key": "dev-key"}
    with TestClient(app) as client:
        run_id = client.post("/runs", json={"workflow": "build"}, headers=key).json()["run_id"]
        assert client.get(f"/runs/{run_id}", headers=key).json()["status"] == "pending"
        assert app.state.workers.queue.get(run_id).status == "queued"
    (tmp_path / "plain.py").write_text("app = object()\n", encoding="utf-8")
    assert main(["serve", str(tmp_path / "plain.py"), "--workers", "2"]) == 2
    assert "is not an app made by create_app" in capsys.readouterr().err


def test_the_example_service_runs_a_workflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/service.py on a fresh machine: SQLite, one key, a run that completes."""
    monkeypatch.setenv("SERVICE_DB", str(tmp_path / "service.db"))
    app = load_app(f"{EXAMPLE}:app")
    key = {"X-API-Key": "dev-key"}
    with TestClient(app) as client:
        run = client.post(
            "/runs", json={"workflow": "build", "input": {"title": "Q3"}}, headers=key
        )
        assert run.status_code == 202
        app.state.workers.wait(run.json()["run_id"], timeout=60)
        done = client.get(f"/runs/{run.json()['run_id']}", headers=key).json()
        assert (done["status"], done["steps_done"], done["steps_total"]) == ("completed", 5, 5)
        edges = client.get("/workflows/build", headers=key).json()["edges"]
        assert ["parse", "stats", False] in edges
    assert (tmp_path / "service.db").exists()


def test_load_app_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="has no 'app'"):
        load_app(str(tmp_path / "empty.py"))
    assert load_app(f"{tmp_path / 'empty.py'}:x") == 1
    with pytest.raises(CommandError, match="no Python file"):
        load_app(str(tmp_path / "absent.py"))
    with pytest.raises(CommandError, match="no module 'no_such_module_here'"):
        load_app("no_such_module_here:app")
    assert load_app("json:dumps").__name__ == "dumps"


def test_serve_refuses_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(EXAMPLE), "--port", "70000"]) == 2
    assert "expected a port from 0 to 65535" in capsys.readouterr().err
