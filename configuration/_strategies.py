"""The names of the ACD's agent-selection strategies: what a queue's `strategy:` may say.

The one list: the config schema checks a queue's strategy against it, and the ACD
core's registry (acd/_strategies.py) is keyed by it, so mypy refuses a strategy the
schema does not know and the other way round (a test compares both).
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["STRATEGY_NAMES", "StrategyName"]

StrategyName = Literal[
    "longest_idle", "fewest_calls", "round_robin", "skill_level_first", "ring_all"
]
STRATEGY_NAMES: tuple[StrategyName, ...] = get_args(StrategyName)
