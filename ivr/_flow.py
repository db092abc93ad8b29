"""A loaded, validated call flow (one YAML file). It never changes: a reload makes a
new Flow, and a session keeps the one it started with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._nodes import Node, Prompt, VoicemailNode
from ._template import Template

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

    def voicemail_boxes(self) -> list[tuple[str, str, int]]:
        """(node, box, line) of each voicemail node, for its host to check the boxes."""
        return [
            (node.name, node.box, node.line)
            for node in self.nodes.values()
            if isinstance(node, VoicemailNode)
        ]

    def fixed_prompt_texts(self) -> dict[str, list[str]]:
        """The texts of the `prompts:` section that have no slot, by language: the same
        for every call, so a host can render them before the first caller comes
        (`prompts.prewarm`). Recorded prompts (WAV) are not texts."""
        texts: dict[str, list[str]] = {}
        for prompt in self.prompts.values():
            for language, item in prompt.by_language.items():
                text = item.fixed_text if isinstance(item, Template) else None
                if text is not None:
                    texts.setdefault(language, []).append(text)
        return texts
