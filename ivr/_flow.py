"""A loaded, validated call flow (one YAML file). It never changes: a reload makes a
new Flow, and a session keeps the one it started with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._nodes import Node, Prompt

AGENT_NODE = "agent"  # the node the flow's `agent:` section becomes


@dataclass(frozen=True)
class Flow:
    name: str
    version: str  # a hash of the file's bytes: which revision a session runs
    path: str
    languages: tuple[str, ...]  # the first is the default
    start: str
    nodes: Mapping[str, Node]
    prompts: Mapping[str, Prompt]
    max_duration_ms: int | None = None
    on_max_time: str | None = None  # None: Hangup("max_time")
    agent_key: str | None = None  # "0": the agent node from every node that allows it
    warnings: tuple[str, ...] = ()  # file:line: node X: unreachable from start
    # Names the flow uses, for its host to check against what it has:
    schedules: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    # Variables whose values come from a sensitive collect (or a lookup keyed by one):
    # kept in memory only, never in a snapshot.
    sensitive_variables: frozenset[str] = frozenset()

    @property
    def language(self) -> str:
        """The default language (until a set node changes it)."""
        return self.languages[0]
