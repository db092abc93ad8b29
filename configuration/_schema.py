"""The one YAML config: typed model, validation with file:line errors.

Validation happens once, in `callcenter up`; the processes it starts read the
already-validated result (runtime.json), so Kamailio workers never parse YAML.
The ACD replicas and the presence watcher load it again themselves (load_config).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ._analytics import AnalyticsConfig
from ._bizdata import BizdataSection
from ._desktop import DesktopSection, TlsSection
from ._fields import HostPort, StrictModel
from ._ivr_config import BoxName, ClosedSpec, FlowName, IvrSection, ScheduleName
from ._monitoring import MonitoringSection, SupervisorScope
from ._recording import RecordingSection, VoicemailSection
from ._schedules import ScheduleSpec
from ._strategies import StrategyName
from ._yaml_lines import line_index, nearest_line, yaml_error_message

SipUser = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-+]{1,64}$")]
Category = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")]


class NodeConfig(StrictModel):
    run_dir: str = "run"
    advertise_ip: str = "127.0.0.1"
    name: str = "node1"


class SipConfig(StrictModel):
    listen: HostPort = "127.0.0.1:5060"
    realm: str = "huaan.local"
    # Measured: children=4 with TLSF and 1 GiB shm carried 5,000 calls/s (DESIGN.md).
    workers: int = Field(4, ge=1, le=64)
    shm_mb: int = Field(1024, ge=64)
    pkg_mb: int = Field(16, ge=4)
    max_forwards: int = Field(10, ge=1, le=70)
    # app_python3 processes run one request at a time; each remote call needs a short deadline.
    rtpengine_timeout_ms: int = Field(200, ge=20, le=5000)
    rtpengine_disable_s: int = Field(10, ge=1, le=3600)
    # dispatcher: how often each call-controller replica gets an OPTIONS probe. One
    # unanswered probe marks it inactive; one answered probe brings it back.
    controller_ping_interval_s: int = Field(10, ge=1, le=3600)
    # usrloc keepalive (docs/presence.md): an OPTIONS to every registered phone each
    # interval; a phone that answers none for the timeout is dropped from the location
    # table (10 s and up to two intervals later), and the presence watcher then makes its
    # agent not ready. Interval 0: no pings (the timeout is unused); timeout 0: pings
    # (RTT, NAT bindings) without dropping anyone.
    phone_keepalive_s: int = Field(20, ge=0, le=3600)
    phone_keepalive_timeout_s: int = Field(60, ge=0, le=86_400)
    # SIP over WebSocket over TLS for the desktop's softphone (docs/kamailio.md, "WSS");
    # needs the `tls:` section's certificate. None: no WSS listener.
    wss_listen: HostPort | None = None

    @model_validator(mode="after")
    def _keepalive(self) -> SipConfig:
        interval, timeout = self.phone_keepalive_s, self.phone_keepalive_timeout_s
        if interval > 0 and 0 < timeout < 2 * interval:
            # Kamailio checks the last answer only once per interval: a shorter timeout
            # drops a phone after one lost ping (usrloc README, ka_timeout).
            raise ValueError(
                f"phone_keepalive_timeout_s ({timeout}) must be at least twice "
                f"phone_keepalive_s ({interval}), or 0"
            )
        return self


class RtpengineNode(StrictModel):
    ng: HostPort
    # managed: callcenter up starts it; otherwise it is an external, already running node.
    managed: bool = True
    interface: str = "127.0.0.1"
    port_min: int = Field(30000, ge=1024, le=65535)
    port_max: int = Field(30999, ge=1024, le=65535)
    weight: int = Field(1, ge=1, le=100)

    @model_validator(mode="after")
    def _port_range(self) -> RtpengineNode:
        if self.port_max - self.port_min < 3:
            raise ValueError("port_max must be at least port_min + 4 (each call needs 4 ports)")
        return self


class RtpengineConfig(StrictModel):
    nodes: list[RtpengineNode] = Field(min_length=1)
    # Seconds without RTP before rtpengine ends a call's media (dead-leg detection).
    rtp_timeout_s: int = Field(60, ge=1)


class RedisConfig(StrictModel):
    listen: HostPort = "127.0.0.1:6379"
    managed: bool = True


class Timers(StrictModel):
    """Every timer is in milliseconds so tests can run them fast."""

    ring_timeout_ms: int = Field(20_000, ge=100)
    # fr_timer: how long to wait for any reply to a request we relay.
    transaction_timeout_ms: int = Field(5_000, ge=100)
    # fr_inv_timer: how long an INVITE may ring in total before 408.
    invite_timeout_ms: int = Field(120_000, ge=100)
    # The call controllers' dead-leg detection (docs/call-control.md, capability 9): an
    # answered leg that sends no RTP for this long ends its call, with a BYE to the other
    # parties (0: off). Each call's media is looked at every media_check_interval_ms, so
    # a dead leg is found between the timeout and the timeout + 2 intervals.
    dead_leg_timeout_ms: int = Field(30_000, ge=0)
    media_check_interval_ms: int = Field(10_000, ge=100)


class Trunk(StrictModel):
    name: Category
    sources: list[str] = Field(min_length=1)
    # The carrier's address for calls we originate (outbound, callback): a controller's
    # leg to an external number is relayed here. None: the trunk is inbound only.
    gateway: HostPort | None = None
    # Numbers controllers may dial out through this trunk (prefixes); empty: any number.
    outbound_prefixes: list[Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{1,32}$")]] = []

    @field_validator("sources")
    @classmethod
    def _cidrs(cls, sources: list[str]) -> list[str]:
        for source in sources:
            ipaddress.ip_network(source, strict=False)  # raises ValueError with a clear message
        return sources


class RewriteRule(StrictModel):
    match: str
    replace: str

    @field_validator("match")
    @classmethod
    def _regex(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return pattern


class Numbering(StrictModel):
    caller_rules: list[RewriteRule] = []
    dialled_rules: list[RewriteRule] = []


class NumberRoute(StrictModel):
    number: Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{2,32}$")]
    category: Category
    # agents: Kamailio hunts `agents` itself. controller: the call goes to one of the
    # `controllers` replicas (dispatcher set 1), which answers and anchors it.
    target: Literal["agents", "controller"] = "agents"
    # Hunt group in order; the ACD replaces this with queue: once it exists.
    agents: list[SipUser] = []
    # target controller: the ACD queue its calls join (a name in `queues:`); the
    # replicas get it as `--queue-for NUMBER=QUEUE` (docs/call-control.md).
    queue: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")] | None = None
    # target controller: the IVR flow its calls go through first (a flow in ivr.flows_dir;
    # `callcenter check-config` loads them). The flow queues, transfers or hangs up.
    ivr: FlowName | None = None
    # target controller: open hours (a name in `schedules:`); out of them the call gets
    # `closed` without entering the flow or the queue.
    hours: ScheduleName | None = None
    closed: ClosedSpec | None = None
    # target controller: record every call to this number from its answer (the
    # recording: section, docs/recording.md); the IVR's `sensitive` nodes pause it.
    record: bool = False

    @model_validator(mode="after")
    def _ivr(self) -> NumberRoute:
        if self.target == "agents" and (self.ivr or self.hours):
            raise ValueError("ivr and hours need target controller (the controller runs them)")
        if self.hours is not None and self.closed is None:
            raise ValueError(
                "hours needs closed: an announcement (zh, en) or voicemail for out of hours"
            )
        if self.closed is not None and self.hours is None:
            raise ValueError("closed needs hours (a schedule in `schedules:`)")
        return self

    @model_validator(mode="after")
    def _target(self) -> NumberRoute:
        if self.target == "agents" and not self.agents:
            raise ValueError("a number with target agents needs at least one agent")
        if self.target == "controller" and self.agents:
            raise ValueError(
                "a number with target controller takes no agents (the controller chooses them)"
            )
        if self.target == "agents" and self.queue is not None:
            raise ValueError(
                "a queue needs target controller (the controller enqueues "
                "the call at the ACD; Kamailio hunts `agents` itself)"
            )
        if self.category == "internal":
            # The edge's category for calls between agents: a controller takes such a
            # call for one (it reserves the dialled account at the ACD).
            raise ValueError("category internal is reserved for calls between agents")
        return self


class ControllerReplica(StrictModel):
    """One call-controller replica (python -m controller), reached by Kamailio's dispatcher."""

    sip: HostPort
    # The replica's line-based control socket: the health probe, and the ACD's commands.
    control: HostPort
    # managed: `callcenter up` starts it; otherwise it runs elsewhere and is only dispatched to.
    managed: bool = True
    # The rtpengine ng address it anchors media in; default: the first rtpengine node.
    rtpengine: HostPort | None = None
    # Its name in the events' `node` field; default: <node.name>-ctl<index>.
    name: Category | None = None


class Account(StrictModel):
    username: SipUser
    roles: list[Literal["agent", "supervisor", "admin"]] = Field(min_length=1)
    employee_id: str | None = None
    # HA1 = md5(username:realm:password) for SIP digest; argon2 hash for everything else.
    ha1: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    password_hash: Annotated[str, StringConstraints(pattern=r"^\$argon2id\$")]
    skills: dict[str, int] = {}
    # The agent's team: a supervisor's `supervises.teams` names it (docs/monitoring.md).
    team: Category | None = None
    # Whom this supervisor may listen to, whisper to and barge in on; None: nobody.
    supervises: SupervisorScope | None = None

    @property
    def numeric_employee_id(self) -> int | None:
        """The employee ID as the ACD knows agents, a number; None when it is not one
        (such an account can still be an admin for supervisor commands)."""
        raw = self.employee_id
        return int(raw) if raw is not None and raw.isdigit() else None


QueueName = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")]


class QueueSpec(StrictModel):
    """One ACD queue (R-CORE-3/4). Timers in milliseconds, like every timer here."""

    name: QueueName
    skills: dict[str, Annotated[int, Field(ge=1)]] = {}  # skill -> minimum level
    strategy: StrategyName = "longest_idle"
    ring_timeout_ms: int = Field(20_000, ge=100)  # R-AG-3: then the next idle agent
    max_wait_ms: int | None = Field(None, ge=100)  # overflow after this long; needs an overflow
    overflow_queue: QueueName | None = None
    overflow_target: Category | None = None  # outside the ACD, e.g. voicemail
    wrap_up_ms: int = Field(0, ge=0)
    max_no_answers: int = Field(3, ge=0)  # then the agent goes not ready; 0 = never
    honour_priority: bool = True
    # Music on hold while a call waits (the call controller plays it; docs/call-control.md):
    # the position announcements' language, their interval (start to start; 0 = music
    # only), and the music: an absolute path, on the rtpengine host, to an 8 kHz mono WAV
    # (none: the built-in melody). The music starts `music_after_ms` after parking (0: at
    # once): starting rtpengine's player costs it about 5 ms of CPU, and most callers
    # are answered sooner than that; one who waits hears that much silence first.
    language: Literal["zh", "en"] = "zh"
    announce_every_ms: int = Field(30_000, ge=0)
    music_file: str | None = None
    music_after_ms: int = Field(1_000, ge=0)
    # Always-on recording of this queue's calls, from the agent's answer to hang-up
    # (docs/recording.md).
    record: bool = False
    # A mailbox (a name in voicemail.boxes) a waiting caller can choose instead of
    # waiting, by pressing voicemail.escape_key; overflow_target: voicemail goes there too.
    voicemail_box: BoxName | None = None

    @model_validator(mode="after")
    def _music_path(self) -> QueueSpec:
        if self.music_file is not None and not self.music_file.startswith("/"):
            # rtpengine opens the file by this path, from its own working directory.
            raise ValueError(f"music_file must be an absolute path, not {self.music_file!r}")
        return self

    @model_validator(mode="after")
    def _overflow(self) -> QueueSpec:
        if self.overflow_queue is not None and self.overflow_target is not None:
            raise ValueError("set overflow_queue or overflow_target, not both")
        if (
            self.max_wait_ms is not None
            and self.overflow_queue is None
            and self.overflow_target is None
        ):
            raise ValueError("max_wait_ms needs an overflow_queue or overflow_target")
        return self


class AcdSection(StrictModel):
    """The ACD service (acdsvc): where a replica listens and the core's ranges and leases."""

    listen: HostPort = "127.0.0.1:50051"
    # What other replicas dial to reach this one; defaults to listen.
    advertise: HostPort | None = None
    # managed: `callcenter up` starts one replica; otherwise replicas run elsewhere.
    managed: bool = True
    seat_range: tuple[int, int] = (1, 9999)
    employee_id_range: tuple[int, int] = (1, 999_999)
    lease_ms: int = Field(30_000, ge=100)  # an agent session not renewed this long is logged out
    direct_ring_timeout_ms: int = Field(20_000, ge=100)  # internal calls, transfers to an agent
    # The leader's Redis lease: a dead leader is replaced after at most this long.
    leader_lease_ms: int = Field(2_000, ge=300, le=60_000)
    redis_prefix: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.:{}\-]{1,64}$")] = "acd:"
    events_stream: str = "cc:events"
    # Who writes call.ringing/no_answer/answered/ended: `controller` (the call controller,
    # which rings the agents; the ACD then writes only agent.state, call.queued,
    # call.overflow and call.transferred) or `acd` (no controller: simulated agents).
    call_events: Literal["controller", "acd"] = "controller"
    workers: int = Field(64, ge=4, le=1024)  # gRPC threads; each open stream holds one
    # How long the ID of an ended call is remembered so that a retried Enqueue for it
    # (its first reply lost in a fail-over) is refused with CALL_EXISTS, not run again.
    # Keep it well above the clients' retry window plus leader_lease_ms.
    ended_call_retention_ms: int = Field(600_000, ge=0)
    # Reconcile (docs/acd-service.md): the leader ends the calls of a controller replica
    # whose live-call registry record expired or no longer lists them, at two checks in a
    # row, never within the grace after a call arrived. Interval 0: no reconciler.
    reconcile_interval_ms: int = Field(5_000, ge=0)
    reconcile_grace_ms: int = Field(10_000, ge=0)
    # Passed by `callcenter up` to the controller replicas: how often each one rewrites
    # its registry record, and the record's TTL (a dead replica's record is gone after
    # it). Heartbeat 0: no registry, so the ACD never reconciles their calls.
    controller_heartbeat_ms: int = Field(2_000, ge=0)
    controller_record_ttl_ms: int = Field(6_000, ge=100)
    # The file with the service token that controllers, presence, dashboards and the
    # other replicas send (docs/acd-service.md, "Authentication"). Unset: `callcenter up`
    # generates one in the run directory. Set it in a cluster (a mounted Secret).
    token_file: Path | None = None

    @model_validator(mode="after")
    def _ranges(self) -> AcdSection:
        for name in ("seat_range", "employee_id_range"):
            lo, hi = getattr(self, name)
            if lo < 0 or lo > hi:
                raise ValueError(f"{name} must be [low, high] with 0 <= low <= high")
        return self

    @model_validator(mode="after")
    def _registry(self) -> AcdSection:
        heartbeat, ttl = self.controller_heartbeat_ms, self.controller_record_ttl_ms
        if heartbeat > 0 and ttl < 2 * heartbeat:
            # One late or lost write must not make a live replica look dead.
            raise ValueError(
                f"controller_record_ttl_ms ({ttl}) must be at least twice "
                f"controller_heartbeat_ms ({heartbeat})"
            )
        return self


class DashboardsSection(StrictModel):
    """The supervisors' Streamlit dashboards (dashboards/)."""

    listen: HostPort = "127.0.0.1:8501"
    managed: bool = True
    timezone: str = "Asia/Shanghai"
    # The pages' language until a supervisor picks one (remembered per username).
    language: Literal["zh", "en"] = "zh"
    # The wallboard shows in red a service level below this target and a longest wait
    # above this limit.
    service_level_target_pct: float = Field(80.0, ge=0, le=100)
    longest_wait_alert_s: float = Field(60.0, gt=0)


class PresenceSection(StrictModel):
    """The phone-presence watcher (presence/, docs/presence.md): Kamailio's registrations
    to the ACD. It runs beside Kamailio when the config has an `acd:` section."""

    # managed: `callcenter up` starts it (with an `acd:` section); false: agents have no
    # SIP phones (simulated agents), or presence comes from elsewhere.
    managed: bool = True
    poll_ms: int = Field(2_000, ge=100, le=60_000)


class CallCenterConfig(StrictModel):
    version: Literal[1]
    node: NodeConfig = NodeConfig()
    sip: SipConfig = SipConfig()
    rtpengine: RtpengineConfig
    redis: RedisConfig = RedisConfig()
    timers: Timers = Timers()
    trunks: list[Trunk] = []
    numbering: Numbering = Numbering()
    numbers: list[NumberRoute] = []
    # Call-controller replicas, in dispatcher set 1; numbers with target controller go there.
    controllers: list[ControllerReplica] = []
    accounts: list[Account] = []
    # Accounts may live in a separate file (kept out of version control); merged with accounts.
    accounts_file: str | None = None
    queues: list[QueueSpec] = []
    acd: AcdSection | None = None
    # CDR collection and statistics (analytics/); its service starts with `callcenter up`.
    analytics: AnalyticsConfig | None = None
    dashboards: DashboardsSection | None = None
    presence: PresenceSection = PresenceSection()
    # The IVR the controllers host (numbers[].ivr names its flows), and the open hours
    # that numbers[].hours name (docs/configuration.md, "IVR").
    ivr: IvrSection = IvrSection()
    schedules: dict[ScheduleName, ScheduleSpec] = {}
    # The business data store and the IVR's data sources (bizdata/, docs/bizdata.md);
    # with this section `callcenter up` migrates the store before it starts anything.
    bizdata: BizdataSection | None = None
    # The certificate HTTPS and WSS present (`callcenter secrets` writes a demo one).
    tls: TlsSection = TlsSection()
    # The agents' web desktop (desktop/, docs/desktop.md); it needs `acd:` and `bizdata:`.
    desktop: DesktopSection | None = None
    # Call recording (rtpengine's pcap method, the recorder service) and voicemail
    # (docs/recording.md); both need `bizdata:` for their index.
    recording: RecordingSection | None = None
    voicemail: VoicemailSection = VoicemailSection()
    # Supervisors' listen, whisper and barge-in through the mixer service
    # (docs/monitoring.md).
    monitoring: MonitoringSection = MonitoringSection()

    @model_validator(mode="after")
    def _references(self) -> CallCenterConfig:
        known = {a.username for a in self.accounts}
        if self.accounts_file is None:
            for route in self.numbers:
                for agent in route.agents:
                    if agent not in known:
                        raise ValueError(f"number {route.number}: unknown agent {agent!r}")
        numbers = [r.number for r in self.numbers]
        dupes = sorted({n for n in numbers if numbers.count(n) > 1})
        if dupes:
            raise ValueError(f"numbers listed twice: {', '.join(dupes)}")
        self._check_queues()
        self._check_controllers()
        return self

    def _check_controllers(self) -> None:
        for name in ("sip", "control"):
            addresses = [getattr(c, name) for c in self.controllers]
            dupes = sorted({a for a in addresses if addresses.count(a) > 1})
            if dupes:
                raise ValueError(f"controllers: {name} address listed twice: {', '.join(dupes)}")
        if self.sip.listen in {c.sip for c in self.controllers}:
            raise ValueError(f"controllers: sip {self.sip.listen} is Kamailio's own sip.listen")

    def located_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-section problems, each with the key path whose line the error names."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        problems += self._queue_problems()
        problems += self._schedule_problems()
        problems += self._mailbox_problems()
        if not self.controllers:
            for i, route in enumerate(self.numbers):
                if route.target == "controller":
                    problems.append(
                        (
                            ("numbers", i, "target"),
                            f"number {route.number} has target controller but "
                            "there is no `controllers:` replica",
                        )
                    )
        return problems

    def _queue_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """numbers[].queue names a queue in `queues:`, and an ACD takes the calls."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        names = {q.name for q in self.queues}
        for i, route in enumerate(self.numbers):
            if route.queue is None:
                if route.target == "controller" and self.acd is not None and route.ivr is None:
                    # The replicas run with --acd: a call no queue takes is hung up.
                    problems.append(
                        (
                            ("numbers", i, "target"),
                            f"number {route.number} has target controller and "
                            "the ACD drives the controllers: it needs a `queue` or an `ivr` flow",
                        )
                    )
                continue
            if route.queue not in names:
                problems.append(
                    (
                        ("numbers", i, "queue"),
                        f"number {route.number}: queue {route.queue!r} is not in `queues:`",
                    )
                )
            elif self.acd is None:
                problems.append(
                    (
                        ("numbers", i, "queue"),
                        f"number {route.number}: a queue needs an `acd:` section",
                    )
                )
        return problems

    def mailbox_known(self, box: str) -> bool:
        """A name in `voicemail.boxes`, or `agent.<username>` of an agent account (with
        an accounts_file, whose accounts are merged later, any `agent.` name passes)."""
        if box in self.voicemail.boxes:
            return True
        agent, dot, username = box.partition(".")
        if agent != "agent" or not dot:
            return False
        if self.accounts_file is not None:
            return True
        return any(a.username == username and "agent" in a.roles for a in self.accounts)

    def _mailbox_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every voicemail box a number or queue names exists (IVR flows' voicemail
        nodes are checked with the flows: callcenter/_ivr_check.py)."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        known = "boxes: " + (", ".join(sorted(self.voicemail.boxes)) or "none") + ", or agent.USER"
        for i, route in enumerate(self.numbers):
            box = route.closed.voicemail if route.closed is not None else None
            if box is not None and not self.mailbox_known(box):
                problems.append(
                    (
                        ("numbers", i, "closed", "voicemail"),
                        f"number {route.number}: voicemail box {box!r} is not in "
                        f"voicemail.boxes ({known})",
                    )
                )
        for i, queue in enumerate(self.queues):
            if queue.voicemail_box is not None and not self.mailbox_known(queue.voicemail_box):
                problems.append(
                    (
                        ("queues", i, "voicemail_box"),
                        f"queue {queue.name}: voicemail_box {queue.voicemail_box!r} is not in "
                        f"voicemail.boxes ({known})",
                    )
                )
            # overflow_target: voicemail without a voicemail_box stays valid, as before
            # voicemail existed: the controller hangs such a call up (docs/recording.md).
        return problems

    def _schedule_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """numbers[].hours names a schedule in `schedules:`."""
        return [
            (
                ("numbers", i, "hours"),
                f"number {route.number}: schedule {route.hours!r} is not in `schedules:`",
            )
            for i, route in enumerate(self.numbers)
            if route.hours is not None and route.hours not in self.schedules
        ]

    def _check_queues(self) -> None:
        by_name = {q.name: q for q in self.queues}
        if len(by_name) != len(self.queues):
            raise ValueError("queues: a queue name is listed twice")
        for q in self.queues:
            if q.overflow_queue is not None and q.overflow_queue not in by_name:
                raise ValueError(
                    f"queue {q.name}: overflow_queue {q.overflow_queue!r} does not exist"
                )
            seen, nxt = [q.name], q.overflow_queue
            while nxt is not None:
                if nxt in seen:
                    raise ValueError(f"overflow loop: {' -> '.join([*seen, nxt])}")
                seen.append(nxt)
                nxt = by_name[nxt].overflow_queue
        for account in self.accounts:
            scope = account.supervises
            unknown = sorted(set(scope.queues) - set(by_name)) if scope is not None else []
            if unknown:
                raise ValueError(
                    f"account {account.username}: supervises unknown queues {', '.join(unknown)}"
                )


M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config that cannot be used; str() names the file and line of each problem."""


def _yaml_path(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """`loc` without what pydantic adds that is no key in the file: a tagged union's tag
    (`bizdata.sources.billing.http.url` is `bizdata.sources.billing.url` in the YAML).
    The last part stays, found or not: it names a key that is missing."""
    path: tuple[Any, ...] = ()
    for i, part in enumerate(loc):
        if (*path, part) in index or i == len(loc) - 1:
            path = (*path, part)
    return path


class AccountsFile(StrictModel):
    """A separate accounts file, so hashes can stay out of version control."""

    accounts: list[Account] = []


def parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The composed document (for line numbers) and its data; ConfigError names
    `source` and the line and column of a syntax error."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_message(exc, text, source)) from None


def _validate(model: type[M], text: str, source: str) -> M:
    document, data = parse_yaml(text, source)
    if document is None or not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the config must be a YAML mapping")
    index = line_index(document)
    _refuse_clear_passwords(data, source, index)
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(err["loc"]), err["msg"]) for err in exc.errors()]
    else:
        located = getattr(result, "located_problems", None)
        problems = located() if located is not None else []
        if not problems:
            return result
    lines = []
    for raw_loc, msg in problems:
        loc = _yaml_path(index, raw_loc)
        where = ".".join(str(p) for p in loc) or "(top)"
        lines.append(f"{source}:{nearest_line(index, loc)}: {where}: {msg}")
    raise ConfigError("\n".join(lines)) from None


def parse_config(text: str, source: str = "<string>") -> CallCenterConfig:
    return _validate(CallCenterConfig, text, source)


def _refuse_clear_passwords(data: dict[str, Any], source: str, index: dict[Any, int]) -> None:
    # A dedicated message: the generic "extra field" error would not say why it is refused.
    for i, account in enumerate(data.get("accounts") or []):
        if isinstance(account, dict) and "password" in account:
            line = index.get(("accounts", i, "password"), 1)
            raise ConfigError(
                f"{source}:{line}: accounts.{i}.password: clear-text passwords are refused; "
                "store ha1 and password_hash (see `callcenter account add`)"
            )


def load_config(path: str | Path) -> CallCenterConfig:
    path = Path(path)
    config = parse_config(_read(path), str(path))
    # Relative paths in the config are relative to its file, wherever the reader runs.
    flows_dir = (path.parent / config.ivr.flows_dir).resolve()
    if str(flows_dir) != config.ivr.flows_dir:
        ivr = config.ivr.model_copy(update={"flows_dir": str(flows_dir)})
        config = config.model_copy(update={"ivr": ivr})
    tls = config.tls.model_copy(
        update={
            "cert": str((path.parent / config.tls.cert).resolve()),
            "key": str((path.parent / config.tls.key).resolve()),
        }
    )
    if tls != config.tls:
        config = config.model_copy(update={"tls": tls})
    boxes = {
        name: box.model_copy(
            update={"greeting_file": str((path.parent / box.greeting_file).resolve())}
        )
        for name, box in config.voicemail.boxes.items()
        if box.greeting_file is not None
    }
    if boxes:
        voicemail = config.voicemail.model_copy(
            update={"boxes": {**config.voicemail.boxes, **boxes}}
        )
        config = config.model_copy(update={"voicemail": voicemail})
    if config.accounts_file:
        accounts_path = (path.parent / config.accounts_file).resolve()
        extra = (
            _validate(AccountsFile, _read(accounts_path), str(accounts_path)).accounts
            if accounts_path.exists()
            else []
        )
        merged = {a.username: a for a in [*config.accounts, *extra]}
        data = config.model_dump()
        data["accounts"] = [a.model_dump() for a in merged.values()]
        data["accounts_file"] = None
        try:
            config = CallCenterConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{path} + {accounts_path}: {exc.errors()[0]['msg']}") from None
    return config


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
