"""The call center's configuration: the one YAML schema, the run directory's paths and
the small helpers every package shares (host:port, the strategy names, the Luhn check).

The lowest layer: it imports no other package of the project, so every package may
import it. The host:port helpers, paths and names load at once; the schema (pydantic
and PyYAML, a few hundred milliseconds) loads on first use of one of its names, so a
call controller or Kamailio's routing script that only splits addresses never pays it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._file_watch import FileWatch
from ._hostport import join_hostport, split_hostport
from ._lazy import lazy_exports
from ._luhn import luhn_check_digit, luhn_valid
from ._paths import PROJECT_ROOT, RunLayout
from ._strategies import STRATEGY_NAMES, StrategyName

if TYPE_CHECKING:
    from ._analytics import AnalyticsConfig, ClickHouseDsn, parse_dsn
    from ._bizdata import (
        BizdataSection,
        HttpSourceSpec,
        SourceSpec,
        SqlSourceSpec,
        StoreSourceSpec,
    )
    from ._desktop import (
        DEFAULT_BUSY_REASONS,
        DEFAULT_TICKET_UNITS,
        DEFAULT_WRAP_UP_CODES,
        DesktopSection,
        TicketUnit,
        TlsSection,
        WrapUpCode,
    )
    from ._fields import (
        MAX_PORT,
        HostPort,
        StrictModel,
        check_identifier,
        check_port,
        positive_number,
    )
    from ._ivr_config import ClosedSpec, IvrSection
    from ._monitoring import MixerNode, MonitoringKeys, MonitoringSection, SupervisorScope
    from ._recording import MailboxSpec, RecordingSection, VoicemailSection
    from ._schedules import WEEKDAYS, ScheduleSpec, Weekday
    from ._schema import (
        Account,
        AcdSection,
        CallCenterConfig,
        ConfigError,
        ControllerReplica,
        DashboardsSection,
        NumberRoute,
        PresenceSection,
        QueueSpec,
        load_config,
        parse_config,
        parse_yaml,
    )
    from ._yaml_lines import line_index, nearest_line, yaml_error_message

__all__ = [
    "DEFAULT_BUSY_REASONS",
    "DEFAULT_TICKET_UNITS",
    "DEFAULT_WRAP_UP_CODES",
    "MAX_PORT",
    "PROJECT_ROOT",
    "STRATEGY_NAMES",
    "WEEKDAYS",
    "Account",
    "AcdSection",
    "AnalyticsConfig",
    "BizdataSection",
    "CallCenterConfig",
    "ClickHouseDsn",
    "ClosedSpec",
    "ConfigError",
    "ControllerReplica",
    "DashboardsSection",
    "DesktopSection",
    "FileWatch",
    "HostPort",
    "HttpSourceSpec",
    "IvrSection",
    "MailboxSpec",
    "MixerNode",
    "MonitoringKeys",
    "MonitoringSection",
    "NumberRoute",
    "PresenceSection",
    "QueueSpec",
    "RecordingSection",
    "RunLayout",
    "ScheduleSpec",
    "SourceSpec",
    "SqlSourceSpec",
    "StoreSourceSpec",
    "StrategyName",
    "StrictModel",
    "SupervisorScope",
    "TicketUnit",
    "TlsSection",
    "VoicemailSection",
    "Weekday",
    "WrapUpCode",
    "check_identifier",
    "check_port",
    "join_hostport",
    "lazy_exports",
    "line_index",
    "load_config",
    "luhn_check_digit",
    "luhn_valid",
    "nearest_line",
    "parse_config",
    "parse_dsn",
    "parse_yaml",
    "positive_number",
    "split_hostport",
    "yaml_error_message",
]

# The names that need pydantic or PyYAML, and the module each one lives in.
_LAZY = {
    **dict.fromkeys(("AnalyticsConfig", "ClickHouseDsn", "parse_dsn"), "_analytics"),
    **dict.fromkeys(
        ("BizdataSection", "HttpSourceSpec", "SourceSpec", "SqlSourceSpec", "StoreSourceSpec"),
        "_bizdata",
    ),
    **dict.fromkeys(
        (
            "DEFAULT_BUSY_REASONS",
            "DEFAULT_TICKET_UNITS",
            "DEFAULT_WRAP_UP_CODES",
            "DesktopSection",
            "TicketUnit",
            "TlsSection",
            "WrapUpCode",
        ),
        "_desktop",
    ),
    **dict.fromkeys(
        (
            "MAX_PORT",
            "HostPort",
            "StrictModel",
            "check_identifier",
            "check_port",
            "positive_number",
        ),
        "_fields",
    ),
    **dict.fromkeys(("ClosedSpec", "IvrSection"), "_ivr_config"),
    **dict.fromkeys(
        ("MixerNode", "MonitoringKeys", "MonitoringSection", "SupervisorScope"), "_monitoring"
    ),
    **dict.fromkeys(("MailboxSpec", "RecordingSection", "VoicemailSection"), "_recording"),
    **dict.fromkeys(
        (
            "Account",
            "AcdSection",
            "CallCenterConfig",
            "ConfigError",
            "ControllerReplica",
            "DashboardsSection",
            "NumberRoute",
            "PresenceSection",
            "QueueSpec",
            "load_config",
            "parse_config",
            "parse_yaml",
        ),
        "_schema",
    ),
    **dict.fromkeys(("WEEKDAYS", "ScheduleSpec", "Weekday"), "_schedules"),
    # PyYAML only: the IVR's flow loader uses these without loading pydantic.
    **dict.fromkeys(("line_index", "nearest_line", "yaml_error_message"), "_yaml_lines"),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
