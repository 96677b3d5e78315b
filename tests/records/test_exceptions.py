"""_records/exceptions.py: every exception the package defines, in one module and one tree."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

import langgraph_runner
from langgraph_runner._records import exceptions

SRC = Path(langgraph_runner.__file__).parent


def _defined_exception_classes() -> dict[str, str]:
    """Class name -> module path of every class in the package whose base names an exception."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [ast.unparse(base) for base in node.bases]
            if any(b.endswith(("Error", "Exception", "ErrorBase")) for b in bases):
                found[node.name] = str(path.relative_to(SRC))
    return found


def test_every_exception_class_is_defined_in_the_exceptions_module() -> None:
    """No module but _records/exceptions.py defines an exception class."""
    defined = _defined_exception_classes()
    assert defined, "the scan found no exception class"
    elsewhere = {name: path for name, path in defined.items() if path != "_records/exceptions.py"}
    assert elsewhere == {}


def test_the_docstring_draws_every_exception() -> None:
    """Each class of the module appears in the tree drawn in its docstring."""
    tree = exceptions.__doc__ or ""
    names = [n for n in exceptions.__all__ if isinstance(getattr(exceptions, n), type)]
    assert sorted(names) == sorted(exceptions.__all__)
    missing = [n for n in names if f"── {n} " not in tree]
    assert missing == []


def test_public_exceptions_are_exported_and_share_one_base() -> None:
    """Every exception langgraph_runner exports is the module's class and a LangGraphRunnerError."""
    public = [
        name
        for name in langgraph_runner.__all__
        if isinstance(getattr(langgraph_runner, name), type)
        and issubclass(getattr(langgraph_runner, name), BaseException)
    ]
    assert {"ThreadNotFoundError", "RunNotCompletedError", "StepFailedError"} <= set(public)
    for name in public:
        cls = getattr(langgraph_runner, name)
        assert cls is getattr(exceptions, name)
        assert issubclass(cls, exceptions.LangGraphRunnerError)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("langgraph_runner._reports.report", "ThreadNotFoundError"),
        ("langgraph_runner._rebuild.history", "RunNotCompletedError"),
        ("langgraph_runner._rebuild.partial", "RunNotCompletedError"),
        ("langgraph_runner._runs.lifecycle", "StepFailedError"),
        ("langgraph_runner._cache.canon", "Unhashable"),
        ("langgraph_runner._cli.rebuild", "CommandError"),
    ],
)
def test_old_locations_import_the_same_class(module: str, name: str) -> None:
    """Code importing an exception from where it used to live gets the one class."""
    old = __import__(module, fromlist=[name])
    assert getattr(old, name) is getattr(exceptions, name)


def test_moved_exceptions_keep_their_bases_and_pickle() -> None:
    """ThreadNotFoundError is still a LookupError; the moved ones pickle with their context."""
    assert issubclass(exceptions.ThreadNotFoundError, LookupError)
    err = exceptions.RunNotCompletedError("t-1", "still pending")
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.thread_id, back.reason, str(back)) == (
        exceptions.RunNotCompletedError,
        "t-1",
        "still pending",
        str(err),
    )
    step = pickle.loads(pickle.dumps(exceptions.StepFailedError("fetch", "boom")))
    assert (step.node, step.cause) == ("fetch", "boom")
