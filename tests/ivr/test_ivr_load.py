"""Flow files are validated at load: each error names the file, the line and the node."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import pytest

from configuration import PROJECT_ROOT
from ivr import (
    CallFacts,
    FlowError,
    FlowProblem,
    Play,
    Session,
    Tts,
    Wav,
    load_flow,
    load_flows,
)
from ivr._nodes import CollectNode, PlayNode

from .ivr_testkit import Clock, write_flow

CALL = CallFacts(caller="13800138000", dialled="95598")

GOOD = """\
name: good
languages: [zh, en]
start: main
prompts:
  hello: {zh: 你好, en: hello}
nodes:
  main:
    type: menu
    prompt: hello
    choices: {1: bye}
  bye:
    type: hangup
"""


def line_of(text: str, needle: str) -> int:
    for number, line in enumerate(textwrap.dedent(text).splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in the flow")


def refused(tmp_path: Path, text: str, **kwargs: object) -> FlowError:
    path = write_flow(tmp_path, text)
    with pytest.raises(FlowError) as caught:
        load_flow(path, **kwargs)  # type: ignore[arg-type]
    return caught.value


def assert_problem(
    tmp_path: Path, text: str, needle: str, node: str | None, message: str, **kwargs: object
) -> None:
    """The flow is refused with a problem at the line of `needle`, in `node`, whose
    text contains `message`; str() of it starts `file:line: node X: `."""
    error = refused(tmp_path, text, **kwargs)
    file, line = str(tmp_path / "flow.yaml"), line_of(text, needle)
    prefix = f"{file}:{line}: " + (f"node {node}: " if node else "")
    found = [
        p
        for p in error.problems
        if isinstance(p, FlowProblem)
        and (p.file, p.line, p.node) == (file, line, node)
        and message in p.message
        and str(p).startswith(prefix)
    ]
    assert found, f"{prefix}...{message}\nnot in\n{error}"


def test_a_good_flow_loads(tmp_path: Path) -> None:
    flow = load_flow(write_flow(tmp_path, GOOD))
    assert flow.name == "good" and flow.languages == ("zh", "en") and flow.start == "main"
    assert flow.warnings == ()
    assert len(flow.version) == 16
    changed = load_flow(write_flow(tmp_path, GOOD.replace("你好", "您好"), "changed.yaml"))
    assert changed.version != flow.version


def test_yaml_syntax_errors_name_line_and_column(tmp_path: Path) -> None:
    error = refused(tmp_path, "start: main\nnodes:\n  main: {type: hangup\n")
    assert str(error).startswith(f"{tmp_path / 'flow.yaml'}:4:1: not valid YAML")


def test_a_flow_is_a_mapping(tmp_path: Path) -> None:
    assert "flow.yaml:1: a flow file is a YAML mapping" in str(refused(tmp_path, "- a\n"))


@pytest.mark.parametrize(
    ("change", "needle", "node", "message"),
    [
        (
            ("type: hangup", "type: hangupp"),
            "hangupp",
            "bye",
            "unknown node type 'hangupp' (did you mean 'hangup'?)",
        ),
        (("  bye:\n    type: hangup", "  bye:\n    prompt: hello"), "bye:", "bye", "has no type"),
        (("  bye:\n    type: hangup", "  bye:"), "bye:", "bye", "a node is a mapping"),
        (
            ("choices: {1: bye}", "choice: {1: bye}"),
            "choice:",
            "main",
            "unknown key 'choice' (did you mean 'choices'?)",
        ),
        (
            ("choices: {1: bye}", "choices: {1: by}"),
            "choices",
            "main",
            "choices.1: no node named 'by' (did you mean 'bye'?)",
        ),
        (
            ("choices: {1: bye}", "choices: {12: bye}"),
            "choices",
            "main",
            "choices: 12 is not one key",
        ),
        (
            ("start: main", "start: mian"),
            "start:",
            None,
            "start: no node named 'mian' (did you mean 'main'?)",
        ),
        (
            ("prompt: hello", "prompt: hullo"),
            "prompt: hullo",
            "main",
            "prompt: no prompt named 'hullo'",
        ),
        (
            ("hello: {zh: 你好, en: hello}", "hello: {zh: 你好}"),
            "hello:",
            None,
            "prompt 'hello': no en version",
        ),
        (
            ("hello: {zh: 你好, en: hello}", "hello: {zh: 你好, en: hi, fr: salut}"),
            "hello:",
            None,
            "'fr' is not one of the flow's languages",
        ),
        (
            ("hello: {zh: 你好, en: hello}", "hello: {zh: 你好, en: '{x'}"),
            "hello:",
            None,
            "prompt 'hello' (en): slot at character 1 has no closing }",
        ),
        (
            ("hello: {zh: 你好, en: hello}", "hello: {zh: 你好, en: '{acct.balance:money}'}"),
            "hello:",
            None,
            "'money' is not one of amount, date, number, digits, text",
        ),
        (
            ("hello: {zh: 你好, en: hello}", "hello: {zh: 你好, en: '{acct.balance}'}"),
            "hello:",
            None,
            "{acct.balance}: no node stores 'acct'",
        ),
        (
            ("hello: {zh: 你好, en: hello}", "hello: {zh: 你好, en: '{call.mood}'}"),
            "hello:",
            None,
            "call has caller, dialled, category, language",
        ),
        (
            ("languages: [zh, en]", "languages: [zh, fr]"),
            "languages",
            None,
            "languages: a list of zh and en",
        ),
        (("name: good", "nodez: {}"), "nodez", None, "unknown key 'nodez' (did you mean 'nodes'?)"),
        (
            ("    type: hangup\n", "    type: hangup\n  bye:\n    type: hangup\n"),
            "bye:",
            None,
            "nodes.bye: the key is written twice",
        ),
    ],
)
def test_load_errors(
    tmp_path: Path, change: tuple[str, str], needle: str, node: str | None, message: str
) -> None:
    text = GOOD.replace(*change)
    if "the key is written twice" in message:  # the second `bye:`
        error = refused(tmp_path, text)
        line = [i for i, s in enumerate(text.splitlines(), 1) if s.strip() == "bye:"][1]
        assert f"flow.yaml:{line}: {message}" in str(error)
        return
    assert_problem(tmp_path, text, needle, node, message)


NODES = """\
start: ask
prompts:
  p: {zh: 请输入}
nodes:
  ask:
    type: collect
    prompt: p
    %s
    next: done
  done: {type: hangup}
"""


@pytest.mark.parametrize(
    ("keys", "needle", "message"),
    [
        (
            "min_digits: 9\n    max_digits: 4",
            "min_digits",
            "min_digits 9 is more than max_digits 4",
        ),
        ("validate: {regex: '(['}", "validate", "validate: bad regex '(['"),
        ("validate: checksum", "validate", "validate: 'checksum' is not luhn"),
        ("validate: {length: [0]}", "validate", "length is a number of digits"),
        ("terminator: #", "terminator", 'terminator: "#" or "*" in quotes'),
        (
            "first_digit_timeout_ms: -5",
            "first_digit",
            "first_digit_timeout_ms: a whole number, 1 to 600000 (got -5)",
        ),
        ("retries: lots", "retries", "retries: a whole number, 0 to 10 (got 'lots')"),
        ("sensitive: maybe", "sensitive", "sensitive: true or false (got 'maybe')"),
        ("store_as: call", "store_as", "store_as: 'call' is not a variable name"),
        ("on_failure: nowhere", "on_failure", "on_failure: no node named 'nowhere'"),
    ],
)
def test_collect_errors(tmp_path: Path, keys: str, needle: str, message: str) -> None:
    assert_problem(tmp_path, NODES % keys, needle, "ask", message)


@pytest.mark.parametrize(
    ("node", "needle", "message"),
    [
        (
            "{type: branch, conditions: [{var: x, op: like, value: 1, next: done}], default: done}",
            "branch",
            "conditions.0: op is one of eq, ne, gt, ge, lt, le, in, empty, present",
        ),
        (
            "{type: branch, conditions: [{var: x, op: eq, next: done}], default: done}",
            "branch",
            "op eq needs a value",
        ),
        (
            "{type: branch, conditions: [{var: x, op: in, value: 3, next: done}], default: done}",
            "branch",
            "op in needs a list of values",
        ),
        (
            "{type: branch, conditions: [{open: office, next: done}], default: done}",
            "branch",
            "open: no schedule named 'office' (known: weekend)",
        ),
        (
            "{type: queue, queue: billing, hours: office}",
            "queue",
            "hours: no schedule named 'office'",
        ),
        (
            "{type: queue, queue: billing, skills: {billing: 0}}",
            "queue",
            "skills: a mapping of skill -> minimum level",
        ),
        ("{type: queue}", "queue", "no `queue`"),
        ("{type: transfer, number: 95598}", "transfer", "number: the number to call in quotes"),
        (
            "{type: voicemail, box: b, language: fr}",
            "voicemail",
            "language: 'fr' is not one of the flow's (zh)",
        ),
        ("{type: hangup, result: happy}", "hangup", "result: one of self_served, closed, max_time"),
        ("{type: set, next: done}", "set", "a set node sets one or more of language, category"),
        (
            "{type: set, language: en, next: done}",
            "set",
            "language: 'en' is not one of the flow's (zh)",
        ),
        ("{type: lookup, source: accounts, key: '{acct}', store_as: acct}", "lookup", "no `next`"),
        (
            "{type: play, prompt: {zh: ''}, next: done}",
            "play",
            "prompt 'x.prompt' (zh): the text is empty",
        ),
        (
            "{type: play, prompt: {zh: {wav: nothing.wav}}, next: done}",
            "play",
            "nothing.wav: no such file",
        ),
        (
            "{type: branch, default: done, sensitive: true}",
            "branch",
            "unknown key 'sensitive'",
        ),
    ],
)
def test_node_errors(tmp_path: Path, node: str, needle: str, message: str) -> None:
    text = f"start: x\nnodes:\n  x: {node}\n  done: {{type: hangup}}\n"
    assert_problem(tmp_path, text, needle, "x", message, schedules=["weekend"])


def test_unknown_schedules_are_checked_only_when_the_known_ones_are_given(tmp_path: Path) -> None:
    text = "start: q\nnodes:\n  q: {type: queue, queue: billing, hours: office}\n"
    flow = load_flow(write_flow(tmp_path, text))
    assert flow.schedules == {"office"}
    assert load_flow(write_flow(tmp_path, text), schedules={"office"}).schedules == {"office"}


def test_a_loop_of_branch_and_set_nodes_is_refused(tmp_path: Path) -> None:
    text = """\
        start: a
        nodes:
          a: {type: set, category: x, next: b}
          b: {type: branch, conditions: [{var: call.caller, op: eq, value: 1, next: a}], default: c}
          c: {type: hangup}
        """
    error = refused(tmp_path, text)
    assert "node a: a -> b -> a loops without waiting for the caller" in str(error)


def test_unreachable_nodes_and_unused_prompts_are_warnings(tmp_path: Path) -> None:
    text = GOOD + "  lonely:\n    type: hangup\n" + ""
    text = text.replace("  hello:", "  spare: {zh: 多余, en: spare}\n  hello:")
    flow = load_flow(write_flow(tmp_path, text))
    path = tmp_path / "flow.yaml"
    assert flow.warnings == (
        f"{path}:{line_of(text, 'lonely:')}: node lonely: unreachable from start",
        f"{path}:{line_of(text, 'spare:')}: prompt 'spare' is not used",
    )


def test_the_agent_section(tmp_path: Path) -> None:
    text = GOOD.replace("start: main", 'start: main\nagent_key: "0"')
    assert_problem(tmp_path, text, "agent_key", None, "agent_key: needs an `agent:` section")
    text = (
        GOOD.replace("start: main", "start: main\nagent: {queue: billing}")
        + "  agent: {type: hangup}\n"
    )
    assert_problem(tmp_path, text, "  agent: {type", "agent", "the name 'agent' is the flow's")
    text = GOOD.replace("start: main", "start: main\nagent: {queue: billing, closed: shut}")
    assert_problem(tmp_path, text, "agent:", "agent", "agent.closed: no node named 'shut'")
    text = GOOD.replace("start: main", 'start: main\nagent_key: "x"\nagent: {queue: billing}')
    assert_problem(tmp_path, text, "agent_key", None, "agent_key: one key")


def test_every_problem_is_listed_in_line_order(tmp_path: Path) -> None:
    text = GOOD.replace("choices: {1: bye}", "choices: {1: by}").replace(
        "type: hangup", "type: hangup\n    prompt: nope"
    )
    error = refused(tmp_path, text)
    lines = [p.line for p in error.problems if isinstance(p, FlowProblem)]
    assert len(lines) == 2 and lines == sorted(lines)
    assert [p.node for p in error.problems if isinstance(p, FlowProblem)] == ["main", "bye"]


# ------------------------------------------------------------------ recorded prompts


def write_wav(path: Path, rate: int = 8000, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(b"\0" * width * channels * 80)
    return path


def test_a_recorded_wav_replaces_a_tts_prompt(tmp_path: Path) -> None:
    recorded = write_wav(tmp_path / "hello_en.wav")
    text = GOOD.replace("en: hello}", "en: {wav: hello_en.wav}}")  # relative to the flow
    flow = load_flow(write_flow(tmp_path, text))
    assert flow.prompts["hello"].by_language["en"] == Wav(str(recorded))
    absolute = GOOD.replace("en: hello}", f"en: {{wav: {recorded}}}}}")
    assert load_flow(write_flow(tmp_path, absolute)).prompts["hello"].by_language["en"] == Wav(
        str(recorded)
    )


def test_a_session_plays_the_recording(tmp_path: Path) -> None:
    recorded = write_wav(tmp_path / "hello.wav")
    text = """\
        start: hi
        nodes:
          hi: {type: play, prompt: [{zh: {wav: hello.wav}}, {zh: 欢迎}], next: bye}
          bye: {type: hangup}
        """
    session = Session(load_flow(write_flow(tmp_path, text)), call=CALL, clock=Clock())
    assert session.start()[-1] == Play((Wav(str(recorded)), Tts("欢迎", "zh")))


def test_the_fixed_prompt_texts_are_those_without_a_slot_or_a_recording(
    tmp_path: Path,
) -> None:
    write_wav(tmp_path / "hello_en.wav")
    text = GOOD.replace("en: hello}", "en: {wav: hello_en.wav}}").replace(
        "prompts:\n",
        "prompts:\n  bill: {zh: '来电{call.caller:digits}', en: 'braces {{x}}'}\n",
    )
    flow = load_flow(write_flow(tmp_path, text))
    # What a host renders before the first caller: the same for every call.
    assert flow.fixed_prompt_texts() == {"zh": ["你好"], "en": ["braces {x}"]}


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"rate": 16000}, "16000 Hz, 1 channel(s), 16-bit; expected 8000 Hz, mono, 16-bit PCM"),
        ({"channels": 2}, "8000 Hz, 2 channel(s), 16-bit; expected"),
        ({"width": 1}, "8000 Hz, 1 channel(s), 8-bit; expected"),
    ],
)
def test_a_wav_of_the_wrong_shape_is_refused(
    tmp_path: Path, shape: dict[str, int], message: str
) -> None:
    write_wav(tmp_path / "x.wav", **shape)
    text = GOOD.replace("en: hello}", "en: {wav: x.wav}}")
    assert_problem(tmp_path, text, "hello:", None, message)


def test_a_file_that_is_no_wav_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_text("not audio")
    text = GOOD.replace("en: hello}", "en: {wav: x.wav}}")
    assert_problem(tmp_path, text, "hello:", None, "not a PCM WAV file")


# ------------------------------------------------------------------ the node model


def test_defaults_and_types(tmp_path: Path) -> None:
    text = """\
        start: ask
        nodes:
          ask: {type: collect, prompt: {zh: 请输入}, next: hi}
          hi: {type: say, prompt: {zh: 你好}, next: ask}
        """
    flow = load_flow(write_flow(tmp_path, text))
    ask = flow.nodes["ask"]
    assert isinstance(ask, CollectNode)
    assert (ask.min_digits, ask.max_digits, ask.terminator, ask.retries) == (1, 20, "#", 2)
    assert (ask.first_digit_timeout_ms, ask.inter_digit_timeout_ms) == (5000, 3000)
    assert isinstance(flow.nodes["hi"], PlayNode)  # say is play, for spoken data
    assert flow.languages == ("zh",) and flow.name == "flow"  # the file's stem


# ------------------------------------------------------------------ a folder of flows


def test_load_flows_reads_every_yaml_by_flow_name(tmp_path: Path) -> None:
    write_flow(tmp_path, GOOD, "a.yaml")
    write_flow(tmp_path, GOOD.replace("name: good", "name: other"), "b.yaml")
    (tmp_path / "notes.txt").write_text("not a flow")
    assert sorted(load_flows(tmp_path)) == ["good", "other"]


def test_load_flows_lists_the_problems_of_every_bad_file(tmp_path: Path) -> None:
    write_flow(tmp_path, GOOD, "a.yaml")
    write_flow(tmp_path, GOOD, "b.yaml")  # the same name again
    write_flow(tmp_path, GOOD.replace("start: main", "start: nowhere"), "c.yaml")
    with pytest.raises(FlowError) as caught:
        load_flows(tmp_path)
    message = str(caught.value)
    assert f"{tmp_path / 'b.yaml'}:1: flow name 'good' is taken by {tmp_path / 'a.yaml'}" in message
    assert f"{tmp_path / 'c.yaml'}:3: start: no node named 'nowhere'" in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="cannot read"):
        load_flow(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"start: main\nname: caf\xe9\n")
    with pytest.raises(FlowError, match=r"latin1.yaml:2: not UTF-8 text"):
        load_flow(tmp_path / "latin1.yaml")


def test_loading_flows_does_not_load_pydantic() -> None:
    """The controller loads flows; the config schema (pydantic) is not its business."""
    script = (
        "import sys, ivr; ivr.load_flow('config/ivr/hotline.yaml');print('pydantic' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "False"


def test_menu_play_and_say_nodes_may_be_sensitive(tmp_path: Path) -> None:
    """`sensitive` on a menu, play or say node pauses the call's recording there
    (docs/recording.md); it defaults to false."""
    text = (
        "start: m\nnodes:\n"
        "  m: {type: menu, prompt: {zh: m}, choices: {1: p}, sensitive: true}\n"
        "  p: {type: play, prompt: {zh: p}, next: s, sensitive: true}\n"
        "  s: {type: say, prompt: {zh: s}, next: done}\n"
        "  done: {type: hangup}\n"
    )
    flow = load_flow(write_flow(tmp_path, text))
    assert [flow.nodes[n].sensitive for n in ("m", "p", "s", "done")] == [True, True, False, False]
