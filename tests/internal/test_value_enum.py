"""_internal/value_enum.py: the package's string enums print, format and compare as their value."""

from __future__ import annotations

import pickle

import pytest

from langgraph_runner import CircuitState, ErrorCategory, ErrorCode
from langgraph_runner._internal.value_enum import ValueEnum
from langgraph_runner.runs import RunStatus

MEMBERS = [RunStatus.FAILED, ErrorCode.NODE_TIMEOUT, ErrorCategory.TIMEOUT, CircuitState.HALF_OPEN]


@pytest.mark.parametrize("member", MEMBERS)
def test_a_member_is_its_value_in_text(member: ValueEnum) -> None:
    """str() and format() give the value; the member equals it and pickles to itself."""
    value = member.value
    assert str(member) == f"{member}" == format(member) == value
    assert member == value and isinstance(member, str)
    assert pickle.loads(pickle.dumps(member)) is member
