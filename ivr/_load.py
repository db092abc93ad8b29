"""Flow files: YAML in, a validated `Flow` out, or a FlowError that lists every
problem with its file, line and node. docs/ivr.md is the reference of the format.

The only I/O of the package: reading flow files and the headers of their WAVs.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, cast

import yaml

from configuration import line_index, nearest_line, yaml_error_message
from prompts import LANGUAGES, PromptError, check_prompt_wav

from ._actions import Wav
from ._checks import Check, Lengths, Luhn, Regex
from ._conditions import OPS, UNARY_OPS, Condition, DataCondition, Op, OpenCondition
from ._errors import FlowError, FlowProblem
from ._flow import AGENT_NODE, Flow
from ._nodes import (
    CALL_DATA_KEYS,
    DTMF_KEYS,
    HANGUP_RESULTS,
    BranchNode,
    CollectNode,
    HangupNode,
    LookupNode,
    MenuNode,
    Node,
    PlayNode,
    Prompt,
    Prompts,
    QueueNode,
    Result,
    SetNode,
    TransferNode,
    VoicemailNode,
)
from ._template import Template, TemplateError, parse_template

__all__ = ["CALL_FIELDS", "FLOW_FILES", "KEYS", "load_flow", "load_flows", "parse_flow"]

FLOW_FILES: Final = "*.yaml"  # the files of a flows directory that are flows
ALL_LANGUAGES: Final = "all_languages"  # a prompt's key beside its languages
CALL_FIELDS: Final = ("caller", "dialled", "category", "language")  # {call.<field>}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FLOW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_TIMEOUT_MS: Final = 600_000
MAX_DIGITS: Final = 64
MAX_PRIORITY: Final = 2**31 - 1

_FLOW_KEYS = (
    "name",
    "languages",
    "start",
    "max_duration_ms",
    "on_max_time",
    "agent_key",
    "agent",
    "prompts",
    "nodes",
)
_PROMPTED_INPUT = ("prompt", "retries", "invalid_prompt", "timeout_prompt", "on_failure")
_INPUT_EXTRA = ("on_timeout", "interruptible", "allow_agent")
# Every key a node of each type may have (besides `type`), for "unknown key" errors.
KEYS: Final[dict[str, tuple[str, ...]]] = {
    "menu": ("choices", "timeout_ms", "sensitive", *_PROMPTED_INPUT, *_INPUT_EXTRA),
    "play": ("prompt", "next", "interruptible", "allow_agent", "sensitive"),
    "say": ("prompt", "next", "interruptible", "allow_agent", "sensitive"),
    "collect": (
        "next",
        "store_as",
        "min_digits",
        "max_digits",
        "terminator",
        "first_digit_timeout_ms",
        "inter_digit_timeout_ms",
        "validate",
        "sensitive",
        *_PROMPTED_INPUT,
        *_INPUT_EXTRA,
    ),
    "lookup": ("source", "key", "store_as", "next", "on_not_found", "on_error", "allow_agent"),
    "branch": ("conditions", "default"),
    "set": (*CALL_DATA_KEYS, "next"),
    "queue": ("queue", "priority", "skills", "hours", "closed", "prompt"),
    "voicemail": ("box", "language", "prompt"),
    "transfer": ("number", "prompt"),
    "hangup": ("prompt", "result"),
}


# ---------------------------------------------------------------- entry points


def load_flow(
    path: str | Path,
    *,
    schedules: Collection[str] | None = None,
    sources: Collection[str] | None = None,
) -> Flow:
    """The flow in `path`. `schedules`, `sources`: the schedule and data-source names
    the host has; given, a flow naming another one is refused (at the naming line)."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise FlowError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise FlowError([f"{path}:{line}: not UTF-8 text"]) from None
    return parse_flow(
        text,
        str(path),
        base_dir=path.resolve().parent,
        schedules=schedules,
        sources=sources,
        version=_version(content),
        default_name=path.stem,
    )


def load_flows(
    directory: str | Path,
    *,
    schedules: Collection[str] | None = None,
    sources: Collection[str] | None = None,
) -> dict[str, Flow]:
    """Every `*.yaml` flow in `directory`, by flow name. One FlowError lists the
    problems of every bad file (the host keeps its old flows then)."""
    flows: dict[str, Flow] = {}
    problems: list[FlowProblem | str] = []
    for path in sorted(Path(directory).glob(FLOW_FILES)):
        try:
            flow = load_flow(path, schedules=schedules, sources=sources)
        except FlowError as exc:
            problems.extend(exc.problems)
            continue
        if flow.name in flows:
            problems.append(
                FlowProblem(
                    str(path),
                    1,
                    None,
                    f"flow name {flow.name!r} is taken by {flows[flow.name].path}",
                )
            )
            continue
        flows[flow.name] = flow
    if problems:
        raise FlowError(problems)
    return flows


def parse_flow(
    text: str,
    source: str = "<string>",
    *,
    base_dir: Path | None = None,
    schedules: Collection[str] | None = None,
    sources: Collection[str] | None = None,
    version: str | None = None,
    default_name: str = "flow",
) -> Flow:
    """`text` as a flow; `source` names it in errors, WAV paths are relative to
    `base_dir` (the flow file's folder)."""
    loader = yaml.SafeLoader(text)
    try:
        document = loader.get_single_node()
        data = loader.construct_document(document) if document is not None else None
    except yaml.YAMLError as exc:
        raise FlowError([yaml_error_message(exc, text, source)]) from None
    finally:
        loader.dispose()
    if document is None or not isinstance(data, dict):
        raise FlowError([FlowProblem(source, 1, None, "a flow file is a YAML mapping")])
    reader = _FlowReader(
        source=source,
        index=line_index(document),
        base_dir=base_dir or Path.cwd(),
        known_schedules=None if schedules is None else frozenset(schedules),
        known_sources=None if sources is None else frozenset(sources),
    )
    reader.duplicate_keys(document)
    flow = reader.read(data, version or _version(text.encode()), default_name)
    if reader.problems or flow is None:
        problems = sorted(reader.problems, key=lambda p: p.line)
        raise FlowError(problems)
    return flow


def _version(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


# ---------------------------------------------------------------- the reader


@dataclass
class _Reference:
    """A node name written somewhere, checked once every node is known."""

    target: str
    path: tuple[Any, ...]
    node: str | None


@dataclass
class _SlotUse:
    """A template slot or a branch variable, checked once every variable is known."""

    path: tuple[str, ...]
    where: tuple[Any, ...]
    node: str | None
    label: str  # what reads it, for the message: "prompt 'balance' (zh)"
    spoken: bool  # heard by the caller or put in call data (not a lookup key or a test)


@dataclass
class _FlowReader:
    source: str
    index: dict[tuple[Any, ...], int]
    base_dir: Path
    known_schedules: frozenset[str] | None
    known_sources: frozenset[str] | None
    problems: list[FlowProblem] = field(default_factory=list)
    languages: tuple[str, ...] = ("zh",)
    prompts: dict[str, Prompt] = field(default_factory=dict)
    prompt_names: frozenset[str] = frozenset()
    used_prompts: set[str] = field(default_factory=set)
    references: list[_Reference] = field(default_factory=list)
    slot_uses: list[_SlotUse] = field(default_factory=list)
    schedules: dict[str, tuple[tuple[Any, ...], str | None]] = field(default_factory=dict)
    sources: dict[str, tuple[tuple[Any, ...], str | None]] = field(default_factory=dict)

    # -- problems

    def line(self, path: tuple[Any, ...]) -> int:
        return nearest_line(self.index, tuple(p if isinstance(p, int) else str(p) for p in path))

    def problem(self, path: tuple[Any, ...], node: str | None, message: str) -> None:
        self.problems.append(FlowProblem(self.source, self.line(path), node, message))

    def duplicate_keys(self, node: yaml.Node, path: tuple[Any, ...] = ()) -> None:
        """PyYAML keeps the last of two equal keys silently; a flow must not."""
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    self.problems.append(
                        FlowProblem(
                            self.source,
                            key_node.start_mark.line + 1,
                            None,
                            f"{_dotted((*path, key))}: the key is written twice",
                        )
                    )
                seen.add(key)
                self.duplicate_keys(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.duplicate_keys(item, (*path, i))

    # -- the whole flow

    def read(self, data: dict[Any, Any], version: str, default_name: str) -> Flow | None:
        top = _Keys(self, data, (), None, _FLOW_KEYS, what="a flow")
        name = top.text("name", default=default_name, pattern=_FLOW_NAME) or default_name
        self.languages = self._languages(data)
        raw_prompts = data.get("prompts") or {}
        if not isinstance(raw_prompts, dict):
            self.problem(("prompts",), None, "prompts: a mapping of prompt name -> languages")
            raw_prompts = {}
        self.prompt_names = frozenset(str(k) for k in raw_prompts)
        for prompt_name, value in raw_prompts.items():
            self._named_prompt(str(prompt_name), value)
        raw_nodes = data.get("nodes")
        if not isinstance(raw_nodes, dict) or not raw_nodes:
            self.problem(("nodes",), None, "nodes: a flow needs a mapping of nodes")
            raw_nodes = {}
        names = {str(n) for n in raw_nodes}
        agent_key = top.key("agent_key")
        nodes: dict[str, Node] = {}
        if "agent" in data:
            if AGENT_NODE in names:
                self.problem(
                    ("nodes", AGENT_NODE),
                    AGENT_NODE,
                    f"the name {AGENT_NODE!r} is the flow's `agent:` section's; rename this node",
                )
            agent = self._agent(data["agent"])
            if agent is not None:
                nodes[AGENT_NODE] = agent
            names.add(AGENT_NODE)
        elif agent_key is not None:
            self.problem(("agent_key",), None, "agent_key: needs an `agent:` section (the queue)")
        for node_name, spec in raw_nodes.items():
            node = self._node(str(node_name), spec)
            if node is not None and node.name not in nodes:
                nodes[node.name] = node
        start = top.target("start", required=True)
        max_duration_ms = top.whole("max_duration_ms", default=None, minimum=1)
        on_max_time = top.target("on_max_time")
        self._check_references(names)
        self._check_names(self.schedules, self.known_schedules, "schedule")
        self._check_names(self.sources, self.known_sources, "data source")
        sensitive = self._sensitive_variables(nodes)
        self._check_slots(nodes)
        self._check_loops(nodes)
        nodes = {
            n: replace(node, sensitive=True)
            if isinstance(node, LookupNode) and _reads(node.key, sensitive)
            else node
            for n, node in nodes.items()
        }
        if self.problems or start is None:
            return None
        return Flow(
            name=name,
            version=version,
            path=self.source,
            languages=self.languages,
            start=start,
            nodes=nodes,
            prompts=self.prompts,
            max_duration_ms=max_duration_ms,
            on_max_time=on_max_time,
            agent_key=agent_key,
            warnings=self._warnings(nodes, start, on_max_time, agent_key),
            schedules=frozenset(self.schedules),
            sources=frozenset(n.source for n in nodes.values() if isinstance(n, LookupNode)),
            sensitive_variables=frozenset(sensitive),
        )

    def _languages(self, data: dict[Any, Any]) -> tuple[str, ...]:
        value = data.get("languages", ["zh"])
        if isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, list)
            or not value
            or any(v not in LANGUAGES for v in value)
            or len(set(value)) != len(value)
        ):
            self.problem(
                ("languages",),
                None,
                f"languages: a list of {' and '.join(LANGUAGES)} without repeats, "
                f"the default first (got {value!r})",
            )
            return ("zh",)
        return tuple(value)

    def _agent(self, spec: Any) -> QueueNode | None:
        if not isinstance(spec, dict):
            self.problem(("agent",), None, "agent: the queue an agent call goes to, {queue: ...}")
            return None
        keys = _Keys(self, spec, ("agent",), AGENT_NODE, KEYS["queue"], what="the agent section")
        return self._queue(keys, self.line(("agent",)))

    # -- prompts

    def _named_prompt(self, name: str, value: Any) -> None:
        path = ("prompts", name)
        if not _NAME.match(name):
            self.problem(path, None, f"prompt name {name!r}: letters, digits, _ and -")
        prompt = self._prompt(value, path, None, name)
        if prompt is not None:
            self.prompts[name] = prompt

    def _prompt(
        self, value: Any, path: tuple[Any, ...], node: str | None, name: str
    ) -> Prompt | None:
        """One prompt in every language: {zh: text, en: {wav: file}}."""
        label = f"prompt {name!r}"
        if not isinstance(value, dict):
            self.problem(
                path,
                node,
                f"{label}: map each language ({', '.join(self.languages)}) to a text "
                f"or to {{wav: file}} (and optionally {ALL_LANGUAGES}: true)",
            )
            return None
        by_language: dict[str, Template | Wav] = {}
        all_languages = value.get(ALL_LANGUAGES, False)
        if not isinstance(all_languages, bool):
            self.problem((*path, ALL_LANGUAGES), node, f"{label}: {ALL_LANGUAGES}: true or false")
        for language, text in value.items():
            where = (*path, language)
            if language == ALL_LANGUAGES:
                continue
            if language not in self.languages:
                self.problem(
                    where,
                    node,
                    f"{label}: {language!r} is not one of the flow's languages "
                    f"({', '.join(self.languages)})",
                )
                continue
            part = self._prompt_part(text, where, node, f"{label} ({language})")
            if part is not None:
                by_language[language] = part
        missing = [lang for lang in self.languages if lang not in value]
        if missing:
            self.problem(path, node, f"{label}: no {' and '.join(missing)} version")
        if len(by_language) != len(self.languages):
            return None
        return Prompt(name, by_language, all_languages=all_languages is True)

    def _prompt_part(
        self, value: Any, path: tuple[Any, ...], node: str | None, label: str
    ) -> Template | Wav | None:
        if isinstance(value, str):
            if not value.strip():
                self.problem(path, node, f"{label}: the text is empty")
                return None
            template = self._template(value, path, node, label)
            if template is not None:
                for slot in template.slots:
                    self.slot_uses.append(_SlotUse(slot.path, path, node, label, spoken=True))
            return template
        if isinstance(value, dict) and set(value) == {"wav"} and isinstance(value["wav"], str):
            return self._wav(value["wav"], (*path, "wav"), node, label)
        self.problem(path, node, f"{label}: a text, or {{wav: /path/to/file.wav}}")
        return None

    def _template(
        self, text: str, path: tuple[Any, ...], node: str | None, label: str
    ) -> Template | None:
        try:
            return parse_template(text)
        except TemplateError as exc:
            self.problem(path, node, f"{label}: {exc}")
            return None

    def _wav(self, text: str, path: tuple[Any, ...], node: str | None, label: str) -> Wav | None:
        wav_path = (self.base_dir / text).resolve()  # an absolute `text` stays as it is
        try:
            check_prompt_wav(wav_path)  # what rtpengine plays and prompts.concat_wavs joins
        except PromptError as exc:
            self.problem(path, node, f"{label}: {exc}")
            return None
        return Wav(str(wav_path))

    def prompt_list(self, value: Any, path: tuple[Any, ...], node: str, key: str) -> Prompts:
        """A node's prompt: a name from `prompts:`, one written in place, or a list."""
        items = value if isinstance(value, list) else [value]
        result: list[Prompt] = []
        for i, item in enumerate(items):
            where = (*path, i) if isinstance(value, list) else path
            if isinstance(item, str):
                if item in self.prompts:
                    result.append(self.prompts[item])
                    self.used_prompts.add(item)
                elif item not in self.prompt_names:  # a bad named prompt is reported once
                    self.problem(
                        where,
                        node,
                        f"{key}: no prompt named {item!r}{_hint(item, self.prompt_names)}",
                    )
            else:
                prompt = self._prompt(item, where, node, f"{node}.{key}")
                if prompt is not None:
                    result.append(prompt)
        return tuple(result)

    # -- nodes

    def _node(self, name: str, spec: Any) -> Node | None:
        path = ("nodes", name)
        if not _NAME.match(name):
            self.problem(path, name, "a node name is a letter, then letters, digits, _ or -")
            return None
        if not isinstance(spec, dict):
            self.problem(path, name, "a node is a mapping with a `type:`")
            return None
        kind = spec.get("type")
        if kind not in KEYS:
            what = "has no type" if kind is None else f"unknown node type {kind!r}"
            self.problem(
                (*path, "type") if kind is not None else path,
                name,
                f"{what}{_hint(str(kind), KEYS)}; the types: {', '.join(KEYS)}",
            )
            return None
        keys = _Keys(self, spec, path, name, ("type", *KEYS[kind]), what=f"a {kind} node")
        line = self.line(path)
        build: dict[str, Callable[[_Keys, int], Node | None]] = {
            "menu": self._menu,
            "play": self._play,
            "say": self._play,
            "collect": self._collect,
            "lookup": self._lookup,
            "branch": self._branch,
            "set": self._set,
            "queue": self._queue,
            "voicemail": self._voicemail,
            "transfer": self._transfer,
            "hangup": self._hangup,
        }
        return build[kind](keys, line)

    def _menu(self, k: _Keys, line: int) -> Node | None:
        choices: dict[str, str] = {}
        raw = k.data.get("choices")
        if not isinstance(raw, dict) or not raw:
            k.problem("choices", "choices: a mapping of key -> node, e.g. {1: balance}")
        else:
            for digit, target in raw.items():
                key = _dtmf_key(digit)
                where = ("choices", str(digit))
                if key is None:
                    k.problem(
                        where, f"choices: {digit!r} is not one key (0-9, *, #, A-D; quote * and #)"
                    )
                elif not isinstance(target, str):
                    k.problem(where, f"choices.{key}: the name of a node")
                else:
                    choices[key] = target
                    self.references.append(_Reference(target, (*k.path, *where), k.node))
        return MenuNode(
            name=k.node_name,
            line=line,
            allow_agent=k.flag("allow_agent", True),
            prompt=k.prompts("prompt", required=True),
            choices=choices,
            timeout_ms=k.timeout("timeout_ms", 5000),
            retries=k.whole("retries", default=2, minimum=0, maximum=10) or 0,
            invalid_prompt=k.prompts("invalid_prompt"),
            timeout_prompt=k.prompts("timeout_prompt"),
            on_failure=k.target("on_failure"),
            on_timeout=k.target("on_timeout"),
            interruptible=k.flag("interruptible", True),
            sensitive=k.flag("sensitive", False),
        )

    def _play(self, k: _Keys, line: int) -> Node | None:
        return PlayNode(
            name=k.node_name,
            line=line,
            allow_agent=k.flag("allow_agent", True),
            prompt=k.prompts("prompt", required=True),
            next=k.target("next", required=True) or "",
            interruptible=k.flag("interruptible", True),
            sensitive=k.flag("sensitive", False),
        )

    def _collect(self, k: _Keys, line: int) -> Node | None:
        min_digits = k.whole("min_digits", default=1, minimum=1, maximum=MAX_DIGITS) or 1
        max_digits = k.whole("max_digits", default=20, minimum=1, maximum=MAX_DIGITS) or 20
        if min_digits > max_digits:
            k.problem("min_digits", f"min_digits {min_digits} is more than max_digits {max_digits}")
        return CollectNode(
            name=k.node_name,
            line=line,
            allow_agent=k.flag("allow_agent", True),
            prompt=k.prompts("prompt", required=True),
            next=k.target("next", required=True) or "",
            store_as=k.variable("store_as"),
            min_digits=min_digits,
            max_digits=max_digits,
            terminator=self._terminator(k),
            first_digit_timeout_ms=k.timeout("first_digit_timeout_ms", 5000),
            inter_digit_timeout_ms=k.timeout("inter_digit_timeout_ms", 3000),
            checks=self._checks(k),
            retries=k.whole("retries", default=2, minimum=0, maximum=10) or 0,
            invalid_prompt=k.prompts("invalid_prompt"),
            timeout_prompt=k.prompts("timeout_prompt"),
            on_failure=k.target("on_failure"),
            on_timeout=k.target("on_timeout"),
            sensitive=k.flag("sensitive", False),
            interruptible=k.flag("interruptible", True),
        )

    def _terminator(self, k: _Keys) -> str | None:
        if "terminator" not in k.data:
            return "#"
        value = k.data["terminator"]
        if value == "none":
            return None
        if value in ("#", "*"):
            return cast(str, value)
        k.problem(
            "terminator",
            'terminator: "#" or "*" in quotes (an unquoted # starts a comment), or none',
        )
        return None

    def _checks(self, k: _Keys) -> tuple[Check, ...]:
        if "validate" not in k.data:
            return ()
        raw = k.data["validate"]
        items = raw if isinstance(raw, list) else [raw]
        checks: list[Check] = []
        for item in items:
            if item == "luhn":
                checks.append(Luhn())
            elif (
                isinstance(item, dict) and set(item) == {"regex"} and isinstance(item["regex"], str)
            ):
                try:
                    checks.append(Regex(re.compile(item["regex"])))
                except re.error as exc:
                    k.problem("validate", f"validate: bad regex {item['regex']!r}: {exc}")
            elif isinstance(item, dict) and set(item) == {"length"}:
                lengths = item["length"] if isinstance(item["length"], list) else [item["length"]]
                if not lengths or not all(
                    isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_DIGITS
                    for n in lengths
                ):
                    k.problem(
                        "validate", "validate: length is a number of digits or a list of them"
                    )
                else:
                    checks.append(Lengths(frozenset(lengths)))
            else:
                k.problem(
                    "validate",
                    f"validate: {item!r} is not luhn, {{regex: ...}} or {{length: [...]}}",
                )
        return tuple(checks)

    def _lookup(self, k: _Keys, line: int) -> Node | None:
        key_text = k.text("key", required=True)
        key = (
            None if key_text is None else self._template(key_text, (*k.path, "key"), k.node, "key")
        )
        if key is not None:
            for slot in key.slots:
                self.slot_uses.append(
                    _SlotUse(slot.path, (*k.path, "key"), k.node, "key", spoken=False)
                )
        return LookupNode(
            name=k.node_name,
            line=line,
            allow_agent=k.flag("allow_agent", True),
            source=k.source("source"),
            key=key or Template(()),
            store_as=k.variable("store_as", required=True) or "",
            next=k.target("next", required=True) or "",
            on_not_found=k.target("on_not_found"),
            on_error=k.target("on_error"),
        )

    def _branch(self, k: _Keys, line: int) -> Node | None:
        raw = k.data.get("conditions")
        conditions: list[Condition] = []
        if not isinstance(raw, list) or not raw:
            k.problem("conditions", "conditions: a list of {var, op, value, next} or {open, next}")
            raw = []
        for i, item in enumerate(raw):
            condition = self._condition(k, item, ("conditions", i))
            if condition is not None:
                conditions.append(condition)
        return BranchNode(
            name=k.node_name,
            line=line,
            conditions=tuple(conditions),
            default=k.target("default", required=True) or "",
        )

    def _condition(self, k: _Keys, item: Any, at: tuple[Any, ...]) -> Condition | None:
        where = ".".join(str(p) for p in at)
        if not isinstance(item, dict):
            k.problem(at, f"{where}: {{var, op, value, next}} or {{open: schedule, next}}")
            return None
        nested = _Keys(
            self, item, (*k.path, *at), k.node, ("var", "op", "value", "open", "next"), what=where
        )
        target = nested.target("next", required=True)
        if "open" in item:
            extra = {"var", "op", "value"} & set(item)
            if extra:
                nested.problem("open", f"{where}: `open` takes no {', '.join(sorted(extra))}")
            schedule = nested.schedule("open")
            return None if schedule is None or target is None else OpenCondition(schedule, target)
        var = nested.text("var", required=True)
        if var is not None and not _PATH.match(var):
            nested.problem("var", f"{where}: var {var!r} is a name, or name.field")
            var = None
        op = item.get("op")
        if op not in OPS:
            nested.problem("op", f"{where}: op is one of {', '.join(OPS)} (got {op!r})")
            return None
        value = item.get("value")
        if op in UNARY_OPS and "value" in item:
            nested.problem("value", f"{where}: op {op} takes no value")
        elif op not in UNARY_OPS and "value" not in item:
            nested.problem("op", f"{where}: op {op} needs a value")
        elif op == "in" and not isinstance(value, list):
            nested.problem("value", f"{where}: op in needs a list of values")
        if var is None or target is None:
            return None
        path = tuple(var.split("."))
        self.slot_uses.append(_SlotUse(path, (*k.path, *at, "var"), k.node, where, spoken=False))
        return DataCondition(path, cast(Op, op), value, target)

    def _set(self, k: _Keys, line: int) -> Node | None:
        values: dict[str, Template] = {}
        for key in CALL_DATA_KEYS:
            if key not in k.data:
                continue
            raw = k.data[key]
            if key == "priority":
                priority = k.whole("priority", default=None, minimum=0, maximum=MAX_PRIORITY)
                if priority is not None:
                    values[key] = Template((str(priority),))
                continue
            if not isinstance(raw, str) or not raw:
                k.problem(key, f"{key}: a text (slots such as {{acct.language}} allowed)")
                continue
            template = self._template(raw, (*k.path, key), k.node, key)
            if template is None:
                continue
            if key == "language" and not template.slots and raw not in self.languages:
                k.problem(
                    key, f"language: {raw!r} is not one of the flow's ({', '.join(self.languages)})"
                )
                continue
            for slot in template.slots:
                self.slot_uses.append(_SlotUse(slot.path, (*k.path, key), k.node, key, spoken=True))
            values[key] = template
        if not any(key in k.data for key in CALL_DATA_KEYS):
            k.problem(None, f"a set node sets one or more of {', '.join(CALL_DATA_KEYS)}")
        return SetNode(
            name=k.node_name, line=line, values=values, next=k.target("next", required=True) or ""
        )

    def _queue(self, k: _Keys, line: int) -> QueueNode | None:
        skills: dict[str, int] | None = None
        if "skills" in k.data:
            raw = k.data["skills"]
            if isinstance(raw, dict) and all(
                isinstance(s, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1
                for s, v in raw.items()
            ):
                skills = dict(raw)
            else:
                k.problem("skills", "skills: a mapping of skill -> minimum level (1 or more)")
        return QueueNode(
            name=k.node_name,
            line=line,
            queue=k.text("queue", required=True) or "",
            priority=k.whole("priority", default=None, minimum=0, maximum=MAX_PRIORITY),
            skills=skills,
            hours=k.schedule("hours"),
            closed=k.target("closed"),
            prompt=k.prompts("prompt"),
        )

    def _voicemail(self, k: _Keys, line: int) -> Node | None:
        language = k.text("language")
        if language is not None and language not in self.languages:
            k.problem(
                "language",
                f"language: {language!r} is not one of the flow's ({', '.join(self.languages)})",
            )
        return VoicemailNode(
            name=k.node_name,
            line=line,
            box=k.text("box", required=True) or "",
            language=language,
            prompt=k.prompts("prompt"),
        )

    def _transfer(self, k: _Keys, line: int) -> Node | None:
        number = k.data.get("number")
        if not isinstance(number, str) or not _NUMBER.match(number):
            k.problem(
                "number",
                f"number: the number to call in quotes, digits with an optional + (got {number!r})",
            )
        return TransferNode(
            name=k.node_name, line=line, number=str(number), prompt=k.prompts("prompt")
        )

    def _hangup(self, k: _Keys, line: int) -> Node | None:
        result = k.data.get("result")
        if result is not None and result not in HANGUP_RESULTS:
            k.problem("result", f"result: one of {', '.join(HANGUP_RESULTS)}")
            result = None
        return HangupNode(
            name=k.node_name,
            line=line,
            prompt=k.prompts("prompt"),
            result=cast(Result | None, result),
        )

    # -- checks across the flow

    def _check_references(self, names: Collection[str]) -> None:
        for ref in self.references:
            if ref.target not in names:
                self.problem(
                    ref.path,
                    ref.node,
                    f"{_relative(ref.path, ref.node)}: "
                    f"no node named {ref.target!r}{_hint(ref.target, names)}",
                )

    def _check_names(
        self,
        used: Mapping[str, tuple[tuple[Any, ...], str | None]],
        known: frozenset[str] | None,
        what: str,
    ) -> None:
        """Each schedule or data source the flow names is one the host has."""
        if known is None:
            return
        for name, (path, node) in used.items():
            if name not in known:
                listed = ", ".join(sorted(known)) or "none"
                self.problem(
                    path,
                    node,
                    f"{_relative(path, node)}: no {what} named {name!r} (known: {listed})",
                )

    def _sensitive_variables(self, nodes: Mapping[str, Node]) -> set[str]:
        """What a sensitive collect stores, and what a lookup keyed by it stores."""
        sensitive = {
            n.store_as
            for n in nodes.values()
            if isinstance(n, CollectNode) and n.sensitive and n.store_as
        }
        grew = True
        while grew:
            grew = False
            for node in nodes.values():
                if (
                    isinstance(node, LookupNode)
                    and node.store_as not in sensitive
                    and _reads(node.key, sensitive)
                ):
                    sensitive.add(node.store_as)
                    grew = True
        return sensitive

    def _check_slots(self, nodes: Mapping[str, Node]) -> None:
        stored = {
            n.store_as
            for n in nodes.values()
            if isinstance(n, CollectNode | LookupNode) and n.store_as
        }
        entered = {n.store_as for n in nodes.values() if isinstance(n, CollectNode) and n.sensitive}
        for use in self.slot_uses:
            variable = use.path[0]
            shown = ".".join(use.path)
            if variable == "call":
                if len(use.path) != 2 or use.path[1] not in CALL_FIELDS:
                    self.problem(
                        use.where,
                        use.node,
                        f"{use.label}: {{{shown}}}: call has {', '.join(CALL_FIELDS)}",
                    )
            elif variable not in stored:
                self.problem(
                    use.where,
                    use.node,
                    f"{use.label}: {{{shown}}}: no node stores {variable!r} (store_as)"
                    f"{_hint(variable, stored)}",
                )
            elif use.spoken and variable in entered:
                self.problem(
                    use.where,
                    use.node,
                    f"{use.label}: {{{shown}}} is a sensitive entry; it is never spoken or kept",
                )

    def _check_loops(self, nodes: Mapping[str, Node]) -> None:
        """Branch and set nodes run at once: a loop of them alone never waits for anything."""
        instant = {n: node for n, node in nodes.items() if isinstance(node, BranchNode | SetNode)}
        done: set[str] = set()
        for first in instant:
            stack: list[tuple[str, list[str]]] = [(first, [first])]
            while stack:
                name, trail = stack.pop()
                for target in instant[name].targets():
                    if target == first:
                        self.problem(
                            ("nodes", first),
                            first,
                            f"{' -> '.join([*trail, first])} loops without waiting for the caller",
                        )
                        stack.clear()
                        break
                    if target in instant and target not in trail and target not in done:
                        stack.append((target, [*trail, target]))
            done.add(first)

    def _warnings(
        self, nodes: Mapping[str, Node], start: str, on_max_time: str | None, agent_key: str | None
    ) -> tuple[str, ...]:
        roots = [start, *([on_max_time] if on_max_time else [])]
        if agent_key is not None and AGENT_NODE in nodes:
            roots.append(AGENT_NODE)
        seen: set[str] = set()
        while roots:
            name = roots.pop()
            if name in seen or name not in nodes:
                continue
            seen.add(name)
            roots.extend(nodes[name].targets())
        warnings = [
            str(FlowProblem(self.source, node.line, name, "unreachable from start"))
            for name, node in nodes.items()
            if name not in seen and name != AGENT_NODE
        ]
        warnings += [
            str(
                FlowProblem(
                    self.source, self.line(("prompts", name)), None, f"prompt {name!r} is not used"
                )
            )
            for name in self.prompts
            if name not in self.used_prompts
        ]
        return tuple(warnings)


def _reads(template: Template, variables: Collection[str]) -> bool:
    return any(slot.variable in variables for slot in template.slots)


def _dtmf_key(value: Any) -> str | None:
    """A choice or agent key: YAML reads `1:` as the number 1."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return str(value)
    if isinstance(value, str) and len(value) == 1 and value in DTMF_KEYS:
        return value
    return None


def _relative(path: tuple[Any, ...], node: str | None) -> str:
    """A key's path as a message names it: inside its node ("choices.1"), or from the top."""
    if node is not None and path[:2] == ("nodes", node):
        path = path[2:]
    return _dotted(path)


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path)


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Keys:
    """One mapping of a flow file (a node, the agent section, a condition): typed
    reads of its keys, each problem noted with the key's line."""

    def __init__(
        self,
        reader: _FlowReader,
        data: dict[Any, Any],
        path: tuple[Any, ...],
        node: str | None,
        allowed: Iterable[str],
        *,
        what: str,
    ) -> None:
        self.reader, self.data, self.path, self.node = reader, data, path, node
        allowed = tuple(allowed)
        for key in data:
            if key not in allowed:
                self.problem(
                    str(key),
                    f"unknown key {key!r}{_hint(str(key), allowed)}; {what} has: "
                    f"{', '.join(k for k in allowed if k != 'type')}",
                )

    @property
    def node_name(self) -> str:
        return self.node or ""

    def problem(self, key: str | tuple[Any, ...] | None, message: str) -> None:
        sub = () if key is None else (key,) if isinstance(key, str) else key
        self.reader.problem((*self.path, *sub), self.node, message)

    def key(self, name: str) -> str | None:
        """A DTMF key (the flow's agent_key)."""
        if name not in self.data:
            return None
        key = _dtmf_key(self.data[name])
        if key is None:
            self.problem(name, f"{name}: one key, 0-9, * or # (in quotes) or A-D")
        return key

    def text(
        self,
        name: str,
        *,
        default: str | None = None,
        required: bool = False,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        if name not in self.data:
            if required:
                self.problem(None, f"no `{name}`")
            return default
        value = self.data[name]
        if not isinstance(value, str) or not value.strip():
            self.problem(name, f"{name}: a text (got {value!r})")
            return default
        if pattern is not None and not pattern.match(value):
            self.problem(name, f"{name}: {value!r} is not a name (letters, digits, _ and -)")
            return default
        return value

    def whole(
        self, name: str, *, default: int | None, minimum: int, maximum: int | None = None
    ) -> int | None:
        if name not in self.data:
            return default
        value = self.data[name]
        top = maximum if maximum is not None else 2**63
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= top:
            bounds = f"{minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
            self.problem(name, f"{name}: a whole number, {bounds} (got {value!r})")
            return default
        return value

    def timeout(self, name: str, default: int) -> int:
        return self.whole(name, default=default, minimum=1, maximum=MAX_TIMEOUT_MS) or default

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            self.problem(name, f"{name}: true or false (got {value!r})")
            return default
        return value

    def variable(self, name: str, *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not _VARIABLE.match(value) or value == "call":
            self.problem(name, f"{name}: {value!r} is not a variable name (call is taken)")
            return None
        return value

    def target(self, name: str, *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is not None:
            self.reader.references.append(_Reference(value, (*self.path, name), self.node))
        return value

    def source(self, name: str) -> str:
        value = self.text(name, required=True, pattern=_VARIABLE)
        if value is not None:
            self.reader.sources.setdefault(value, ((*self.path, name), self.node))
        return value or ""

    def schedule(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None:
            self.reader.schedules.setdefault(value, ((*self.path, name), self.node))
        return value

    def prompts(self, name: str, *, required: bool = False) -> Prompts:
        if name not in self.data:
            if required:
                self.problem(None, f"no `{name}`")
            return ()
        return self.reader.prompt_list(self.data[name], (*self.path, name), self.node_name, name)
