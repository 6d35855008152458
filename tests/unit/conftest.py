"""Fixtures of the gateway tests: one scripted fake engine (a test double) on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.scripted_upstream import Script, ScriptedUpstream


@pytest.fixture
def up() -> Iterator[ScriptedUpstream]:
    """A scripted fake engine answering 5 tokens; tests change `up.script` as they need."""
    with ScriptedUpstream(Script(tokens=5), name="a") as u:
        yield u
