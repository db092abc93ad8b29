"""Teletraffic formulas: Erlang B, Erlang C, service level, ASA and staffing.

Shared by the analytics staffing view and the ACD benchmark. Traffic is in
Erlang, times in seconds. All functions are pure and numerically stable for
large agent counts.
"""

from ._erlang import erlang_b, erlang_c
from ._service_level import (
    StaffingPoint,
    agents_for_service_level,
    average_speed_of_answer,
    occupancy,
    offered_load,
    service_level,
    staffing,
)

__all__ = [
    "StaffingPoint",
    "agents_for_service_level",
    "average_speed_of_answer",
    "erlang_b",
    "erlang_c",
    "occupancy",
    "offered_load",
    "service_level",
    "staffing",
]
