"""The IVR: call flows declared in YAML, and a pure interpreter that runs one call
through a flow. The call controller hosts it (`controller/_ivr_host.py`): it feeds
the interpreter digits, prompt ends, timer firings and lookup results, and carries
out the actions it returns (`ivr/_actions.py`). docs/ivr.md is the flow reference.

```python
flows = load_flows("config/ivr", schedules={"office"})  # FlowError: file:line: node X: ...
session = Session(flows["hotline"], call=CallFacts(caller="13800138000", dialled="95598"),
                  clock=lambda: datetime.now(UTC), schedules={"office": Schedule.from_spec(spec)})
actions = session.start()
```
"""

from ._actions import (
    TERMINAL,
    Action,
    CancelTimer,
    Enqueue,
    Hangup,
    Lookup,
    Play,
    PromptItem,
    SetCallData,
    StartTimer,
    Step,
    StopPlay,
    Transfer,
    Tts,
    Voicemail,
    Wav,
)
from ._checks import luhn_valid
from ._errors import FlowError, FlowProblem
from ._flow import AGENT_NODE, Flow
from ._load import load_flow, load_flows, parse_flow
from ._schedule import Schedule
from ._session import INPUT_TIMER, MAX_TIME_TIMER, SENSITIVE, CallFacts, Session

__all__ = [
    "AGENT_NODE",
    "INPUT_TIMER",
    "MAX_TIME_TIMER",
    "SENSITIVE",
    "TERMINAL",
    "Action",
    "CallFacts",
    "CancelTimer",
    "Enqueue",
    "Flow",
    "FlowError",
    "FlowProblem",
    "Hangup",
    "Lookup",
    "Play",
    "PromptItem",
    "Schedule",
    "Session",
    "SetCallData",
    "StartTimer",
    "Step",
    "StopPlay",
    "Transfer",
    "Tts",
    "Voicemail",
    "Wav",
    "load_flow",
    "load_flows",
    "luhn_valid",
    "parse_flow",
]
