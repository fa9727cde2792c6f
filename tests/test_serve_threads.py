"""How serving asks the model's OpenMP threads to wait: set before torch loads, never over
the user's own choice."""

from __future__ import annotations

import os
import sys

from newsclf.serve.threads import WAIT_POLICY_ENV, sleep_between_operations


def test_the_threads_sleep_when_nothing_chose_before_torch_loads(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.delenv(WAIT_POLICY_ENV, raising=False)
    assert sleep_between_operations() == "PASSIVE"
    assert os.environ[WAIT_POLICY_ENV] == "PASSIVE"


def test_the_users_own_policy_is_kept(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setenv(WAIT_POLICY_ENV, "ACTIVE")
    assert sleep_between_operations() == "ACTIVE"
    assert os.environ[WAIT_POLICY_ENV] == "ACTIVE"


def test_nothing_is_changed_once_torch_is_loaded_and_the_answer_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", object())
    monkeypatch.delenv(WAIT_POLICY_ENV, raising=False)
    answer = sleep_between_operations()
    assert "torch was loaded before" in answer and "default" in answer
    assert WAIT_POLICY_ENV not in os.environ
