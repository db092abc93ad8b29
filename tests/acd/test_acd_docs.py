"""docs/acd.md shows the transition table and the strategies the code actually has."""

from __future__ import annotations

from pathlib import Path

from acd import BUILTIN_STRATEGIES, REFUSAL_CODES, TRANSITIONS, AgentState, ErrorCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "acd.md"


def render() -> str:
    states = list(AgentState)
    rows = [
        "| trigger | " + " | ".join(s.value for s in states) + " | refused with |",
        "|---|" + "---|" * len(states) + "---|",
    ]
    for trigger, rule in TRANSITIONS.items():
        cells = [", ".join(sorted(t.value for t in rule[s])) if s in rule else "—" for s in states]
        code = REFUSAL_CODES.get(trigger, ErrorCode.INVALID_TRANSITION).value
        rows.append(f"| {trigger.value} | " + " | ".join(cells) + f" | {code} |")
    return "\n".join(rows)


def test_doc_table_matches_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- transitions:begin -->\n")[1].split("\n<!-- transitions:end -->")[0]
    assert table == render()


def test_doc_strategy_table_names_every_registered_strategy() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Strategies\n")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(BUILTIN_STRATEGIES)
