"""Wiring: config, the Sippy adapter, rtpengine, the service, the control socket, the loop."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sippy.Core.EventDispatcher import ED2

from configuration import split_hostport
from controller import _sippy_fixes
from controller._acd_driver import AcdDriver, sippy_driver
from controller._acd_options import AcdOptions, acd_options, add_acd_arguments
from controller._commands import Commands
from controller._control import ControlServer
from controller._events import NullPublisher, RedisPublisher
from controller._ivr_flows import FlowLoadError
from controller._ivr_options import IvrOptions, add_ivr_arguments, ivr_options
from controller._ivr_wiring import IvrRuntime, sippy_ivr
from controller._liveness import (
    DEFAULT_CHECK_INTERVAL_S,
    DEFAULT_RTP_TIMEOUT_S,
    LivenessChecker,
    positive_seconds,
    seconds,
)
from controller._media import RtpengineNg
from controller._monitoring import (
    MixerNode,
    MixerPool,
    Monitoring,
    MonitoringOptions,
    add_monitoring_arguments,
    monitoring_options,
)
from controller._ports import EventPublisher
from controller._queue_media import (
    QueueMediaOptions,
    add_queue_media_arguments,
    attach_queue_media,
    queue_media_options,
)
from controller._recording import AlwaysOnRecording, CallRecorder, RecorderTap, RedisDiskFull
from controller._recording_options import (
    RecordingOptions,
    add_recording_arguments,
    recording_options,
)
from controller._redis import fail_fast_redis
from controller._registry import (
    RegistryOptions,
    add_registry_arguments,
    registry_for,
    registry_options,
)
from controller._ringback import ringback_file
from controller._rtpengine_dtmf import RtpengineDtmfFeed
from controller._service import CallService
from controller._sip import SippyLegs, SippyTimers
from controller._voicemail_wiring import (
    VoicemailOptions,
    VoicemailRuntime,
    add_voicemail_arguments,
    sippy_voicemail,
    voicemail_options,
)
from eventlog import DEFAULT_STREAM

log = logging.getLogger("controller")


def parse_agents(value: str) -> dict[str, tuple[str, int]]:
    agents: dict[str, tuple[str, int]] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        agent, sep, address = item.partition("=")
        if not sep or not agent:
            raise ValueError(f"expected AGENT=HOST:PORT, got {item!r}")
        agents[agent] = split_hostport(address)
    return agents


@dataclass(frozen=True)
class ControllerConfig:
    sip: tuple[str, int]
    rtpengine: tuple[str, int]
    control: tuple[str, int] = ("127.0.0.1", 0)
    agents: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    edge: tuple[str, int] | None = None  # Kamailio: reaches registered agents and trunks
    park: tuple[str, int] = ("127.0.0.1", 9)
    ring_timeout_s: float = 15.0
    ng_timeout_s: float = 0.5
    dead_linger_s: float = 32.0
    redis: tuple[str, int] | None = None  # the call event log; None: no events
    node: str = field(default_factory=socket.gethostname)
    event_stream: str = DEFAULT_STREAM
    event_queue: int = 10_000
    redis_timeout_s: float = 0.2
    acd: AcdOptions | None = None  # --acd: the ACD drives the calls (controller/_acd_driver.py)
    # --acd-heartbeat: live calls in Redis for the ACD's reconciler (controller/_registry.py)
    registry: RegistryOptions | None = None
    rtp_timeout_s: float = DEFAULT_RTP_TIMEOUT_S  # dead-leg detection; 0: off
    media_check_interval_s: float = DEFAULT_CHECK_INTERVAL_S
    queue_media: QueueMediaOptions | None = None  # --prompt-cache: music on hold (ACD calls)
    ivr: IvrOptions | None = None  # --ivr-flows: the IVR this replica hosts (_ivr_host.py)
    # --voicemail-settings: callers leave messages in mailboxes (_voicemail.py)
    voicemail: VoicemailOptions | None = None
    # rtpengine's TCP ng address that pushes its DTMF events; None: no RFC 4733 or
    # in-band digits (SIP INFO ones still arrive). `python -m controller` defaults it
    # to the --rtpengine address.
    dtmf_events: tuple[str, int] | None = None
    dtmf_record: bool = False  # keep each live call's digits for `dtmf {cid}` (tests)
    recording: RecordingOptions = field(default_factory=RecordingOptions)  # always-on
    acd_prefix: str = "acd:"  # the ACD's Redis prefix (the disk-full flag's key)
    # --mixer: supervisors listen, whisper and barge through these (docs/monitoring.md)
    monitoring: MonitoringOptions = field(default_factory=MonitoringOptions)


def parse_args(argv: Sequence[str]) -> ControllerConfig:
    parser = argparse.ArgumentParser(
        prog="python -m controller", description="Huaan call controller (B2BUA on Sippy)"
    )
    parser.add_argument("--sip", required=True, help="HOST:PORT to take SIP on (UDP)")
    parser.add_argument("--rtpengine", required=True, help="rtpengine ng HOST:PORT")
    parser.add_argument(
        "--control",
        default="127.0.0.1:0",
        help="HOST:PORT of the line-based control socket (0: any free port)",
    )
    parser.add_argument(
        "--agents", default="", help="AGENT=HOST:PORT,... agents at fixed addresses (tests, labs)"
    )
    parser.add_argument(
        "--edge",
        default=None,
        help="HOST:PORT of the SIP edge (Kamailio): every other agent, and "
        "external numbers, are reached through it",
    )
    parser.add_argument(
        "--park",
        default="127.0.0.1:9",
        help="discard address rtpengine sends a parked caller's audio to",
    )
    parser.add_argument("--ring-timeout", type=float, default=15.0)
    parser.add_argument("--ng-timeout", type=float, default=0.5)
    parser.add_argument(
        "--dead-linger",
        type=float,
        default=32.0,
        help="seconds a finished dialog absorbs retransmissions",
    )
    parser.add_argument(
        "--redis",
        default=None,
        help="HOST:PORT of the Redis holding the call event log (none: no events)",
    )
    parser.add_argument(
        "--node",
        default=socket.gethostname(),
        help="this instance's name in the events' `node` field",
    )
    parser.add_argument("--event-stream", default=DEFAULT_STREAM, help="event log stream key")
    parser.add_argument(
        "--event-queue",
        type=int,
        default=10_000,
        help="events buffered for Redis before new ones are dropped",
    )
    parser.add_argument(
        "--redis-timeout",
        type=float,
        default=0.2,
        help="Redis connect and socket timeout (seconds) of the event sender",
    )
    parser.add_argument(
        "--rtp-timeout",
        type=seconds,
        default=DEFAULT_RTP_TIMEOUT_S,
        help="end a call when an answered leg sends no media for this many "
        "seconds, except on hold (0: never)",
    )
    parser.add_argument(
        "--media-check-interval",
        type=positive_seconds,
        default=DEFAULT_CHECK_INTERVAL_S,
        help="seconds between two rtpengine queries about the same call",
    )
    parser.add_argument(
        "--dtmf-events",
        default=None,
        help="rtpengine's TCP ng HOST:PORT that pushes its DTMF events (rtpengine runs with "
        "--listen-tcp-ng there and --dtmf-log-ng-tcp); default: the --rtpengine address; "
        "'off': no RFC 4733 or in-band digits (SIP INFO ones still arrive)",
    )
    parser.add_argument(
        "--dtmf-record",
        action="store_true",
        help="keep each live call's digits for the `dtmf` command (tests and labs only: "
        "callers key in account numbers and PINs)",
    )
    add_acd_arguments(parser)
    add_queue_media_arguments(parser)
    add_registry_arguments(parser)
    add_ivr_arguments(parser)
    add_voicemail_arguments(parser)
    add_recording_arguments(parser)
    add_monitoring_arguments(parser)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    return ControllerConfig(
        sip=split_hostport(args.sip),
        rtpengine=split_hostport(args.rtpengine),
        control=split_hostport(args.control),
        agents=parse_agents(args.agents),
        edge=None if args.edge is None else split_hostport(args.edge),
        park=split_hostport(args.park),
        ring_timeout_s=args.ring_timeout,
        ng_timeout_s=args.ng_timeout,
        dead_linger_s=args.dead_linger,
        redis=None if args.redis is None else split_hostport(args.redis),
        node=args.node,
        event_stream=args.event_stream,
        event_queue=args.event_queue,
        redis_timeout_s=args.redis_timeout,
        acd=acd_options(args, parser),
        registry=registry_options(args, parser),
        rtp_timeout_s=args.rtp_timeout,
        media_check_interval_s=args.media_check_interval,
        queue_media=queue_media_options(args, parser),
        ivr=ivr_options(args, parser),
        voicemail=voicemail_options(args, parser),
        dtmf_events=_dtmf_events(args.dtmf_events, args.rtpengine),
        dtmf_record=args.dtmf_record,
        recording=recording_options(args),
        acd_prefix=args.acd_prefix,
        monitoring=monitoring_options(args, parser),
    )


def _monitoring(options: MonitoringOptions, service: CallService) -> Monitoring | None:
    """Monitoring on this replica's calls, if any mixer is configured."""
    if not options.mixers:
        return None
    pool = MixerPool(
        [
            MixerNode(m.name, m.host, m.port, timeout_s=options.mixer_timeout_s)
            for m in options.mixers
        ]
    )
    log.info(
        "monitoring through mixer(s) %s; keys listen %s whisper %s barge %s intercept %s",
        ", ".join(f"{m.name}={m.host}:{m.port}" for m in options.mixers),
        options.keys.listen,
        options.keys.whisper,
        options.keys.barge,
        options.keys.intercept,
    )
    return Monitoring(
        service,
        pool,
        keys=options.keys,
        ring_timeout_s=options.ring_timeout_s,
        recording_dir=options.recording_dir,
        ping_interval_s=options.ping_interval_s,
    )


def _recording(
    config: ControllerConfig, media: RtpengineNg, events: EventPublisher, acd: AcdDriver | None
) -> tuple[CallRecorder, AlwaysOnRecording]:
    """The calls' recordings on this replica's rtpengine; the disk-full flag is read
    from the event log's Redis (the recorder sets it there)."""
    host, port = config.rtpengine
    disk_full = None
    if config.redis is not None:
        client = fail_fast_redis(*config.redis, timeout_s=config.redis_timeout_s)
        disk_full = RedisDiskFull(client, config.acd_prefix)
    recorder = CallRecorder(
        media,
        events,
        media_node=f"{host}:{port}",
        caller_sdp=lambda cid: None,  # the service's, once it exists
        node=config.node,
        disk_full=disk_full,
        queue_of=acd.queue_of if acd is not None else lambda cid: "",
        report=acd.report_recording if acd is not None else None,
    )
    always = AlwaysOnRecording(
        recorder, numbers=config.recording.numbers, queues=config.recording.queues
    )
    return recorder, always


def _dtmf_events(value: str | None, rtpengine: str) -> tuple[str, int] | None:
    if value is not None and value.strip().lower() == "off":
        return None
    return split_hostport(rtpengine if value is None else value)


def run(config: ControllerConfig) -> int:  # noqa: PLR0912, PLR0915 - it wires every part, in order
    """Run the controller until SIGTERM/SIGINT; Sippy's loop is the main loop."""
    _sippy_fixes.claim_event_loop()
    sip = SippyLegs(*config.sip, dead_linger_s=config.dead_linger_s)
    # The SIP loop does not wait for a `delete` (the call is over): a thread sends it.
    media = RtpengineNg(*config.rtpengine, timeout=config.ng_timeout_s, delete_in_background=True)
    publisher: NullPublisher | RedisPublisher = NullPublisher()
    if config.redis is not None:
        publisher = RedisPublisher.connect(
            *config.redis,
            timeout_s=config.redis_timeout_s,
            stream=config.event_stream,
            capacity=config.event_queue,
        )
    # With --acd the ACD drives the calls: its tap sees every event and forwards it.
    # The live-call record the ACD reconciles against; the Enqueues then name it.
    registry = registry_for(config.acd, config.registry, config.redis, config.node)
    acd = (
        None
        if config.acd is None
        else sippy_driver(config.acd if registry is None else registry.sourced(config.acd))
    )
    # --ivr-flows: the IVR claims its numbers' calls; it sees every event first.
    ivr: IvrRuntime | None = None
    if config.ivr is not None:
        try:
            ivr = sippy_ivr(
                config.ivr,
                node=config.node,
                redis=config.redis,
                redis_timeout_s=config.redis_timeout_s,
            )
        except (FlowLoadError, ValueError) as exc:
            log.error("the IVR cannot start:\n%s", exc)
            if acd is not None:
                acd.stop(0)
            publisher.close()
            return 2
    events: EventPublisher = publisher if acd is None else acd.tap(publisher)
    # --voicemail-settings: mailboxes; the voicemail host sees every event.
    voicemail: VoicemailRuntime | None = None
    if config.voicemail is not None:
        voicemail = sippy_voicemail(config.voicemail, node=config.node)
        events = voicemail.host.tap(events)
    if ivr is not None:
        events = ivr.host.tap(events)
    recorder, always = _recording(config, media, events, acd)
    service = CallService(
        sip,
        media,
        SippyTimers(),
        agents=config.agents,
        edge=config.edge,
        park_address=config.park,
        ring_timeout_s=config.ring_timeout_s,
        events=RecorderTap(events, recorder, always),
        node=config.node,
        # Tone detection costs rtpengine a decode per packet: only when its digits come here.
        inband_dtmf=config.dtmf_events is not None,
        record_dtmf=config.dtmf_record,
    )
    recorder.caller_sdp = service.caller_media
    service.on_caller_answered = always.caller_answered
    service.on_call_ending = recorder.call_ending
    commands = Commands(service, media, sip.status, publisher.stats)
    commands.recorder = recorder
    commands.drain = sip.drain
    if ivr is not None:
        ivr.attach(commands, service.events, service.dtmf, acd)
        ivr.host.recorder = recorder  # a sensitive node pauses the call's recording
    if voicemail is not None:
        commands.voicemail_stats = voicemail.host.describe
        # A message from a queue's caller names that queue, though the driver let it go.
        acd_queue, vm_host = recorder.queue_of, voicemail.host
        recorder.queue_of = lambda cid: acd_queue(cid) or vm_host.queue_of(cid)
        voicemail.attach(
            commands.execute,
            service.events,
            service.dtmf,
            recorder,
            ivr=None if ivr is None else ivr.host,
            acd=acd,
        )
    commands.info_stats = lambda: dict(sip.info_counts)
    monitoring = _monitoring(config.monitoring, service)
    commands.monitoring = monitoring
    on_digit = service.dtmf.from_rtpengine
    if monitoring is not None:
        # A supervisor's keys come in its own rtpengine call (`<cid>~mon~<session>`).
        def on_digit(cid: str, tag: str, digit: str, monitoring: Monitoring = monitoring) -> None:
            if not monitoring.rtpengine_dtmf(cid, tag, digit):
                service.dtmf.from_rtpengine(cid, tag, digit)

    # rtpengine's DTMF events (RFC 4733 and tones), read on a thread, handed to the loop.
    dtmf_feed = (
        None
        if config.dtmf_events is None
        else RtpengineDtmfFeed(*config.dtmf_events, on_digit, ED2.callFromThread)
    )
    if dtmf_feed is not None:
        commands.dtmf_feed_stats = dtmf_feed.stats
    if acd is not None:
        acd.bind(commands.execute)
        service.on_consult_answered = acd.consult_answered
        # With the prompt cache (music on hold), where rtpengine reads files.
        acd.ringback = ringback_file(
            None if config.queue_media is None else config.queue_media.cache_dir
        )
        acd.recorder = recorder
        if monitoring is not None:
            acd.attach_monitoring(monitoring)
        acd.play_messages(
            None if config.queue_media is None else config.queue_media.cache_dir,
            service.events,
            config.node,
        )
    # --prompt-cache: music on hold and announcements for the calls the ACD queues.
    attach_queue_media(config.queue_media, acd, config.acd, media, commands.execute)
    try:
        sip.start(service)
    except _sippy_fixes.PortInUseError as exc:
        log.error("%s; is another controller running?", exc)
        if acd is not None:
            acd.stop(0)
        if ivr is not None:
            ivr.stop()
        publisher.close()
        return 2

    def on_loop(request: Mapping[str, Any]) -> dict[str, Any]:
        if acd is not None:  # consult and intercept reserve their target at the ACD first
            return acd.command(request, ED2.callFromThreadSync)
        reply: dict[str, Any] = ED2.callFromThreadSync(commands.execute, request)
        return reply

    control = ControlServer(*config.control, on_loop)
    control.start()
    if dtmf_feed is not None:
        dtmf_feed.start()
    if acd is not None:
        acd.start()
    if ivr is not None:
        ivr.start()  # watches the flows directory
    if registry is not None:  # after sip.start: a replica refused its port writes nothing
        registry.start(
            lambda: [*service.calls, *(acd.acd_call_ids() if acd else ())], ED2.callFromThread
        )
    liveness = LivenessChecker.start_if_enabled(
        service,
        config.rtpengine,
        rtp_timeout_s=config.rtp_timeout_s,
        interval_s=config.media_check_interval_s,
        ng_timeout_s=config.ng_timeout_s,
        post=ED2.callFromThread,
    )
    if liveness is not None:
        commands.liveness_stats = liveness.stats

    def stop(*_: object) -> None:
        ED2.breakLoop(0)

    for signum in (signal.SIGTERM, signal.SIGINT):
        ED2.regSignal(signum, stop)
    host, port = control.address
    log.info(
        "ready sip=%s:%s control=%s:%s rtpengine=%s:%s agents=%s events=%s",
        *config.sip,
        host,
        port,
        *config.rtpengine,
        ",".join(sorted(config.agents)) or "-",
        "-"
        if config.redis is None
        else f"redis {config.redis[0]}:{config.redis[1]} {config.event_stream} node {config.node}",
    )
    print(f"READY sip={config.sip[0]}:{config.sip[1]} control={host}:{port}", flush=True)
    try:
        ED2.loop()
    finally:
        if dtmf_feed is not None:
            dtmf_feed.stop()
        if liveness is not None:
            liveness.stop()
        service.shutdown()
        if monitoring is not None:
            monitoring.close()
        if ivr is not None:
            ivr.stop()  # after the shutdown ended its calls (and deleted their state)
        if voicemail is not None:
            voicemail.stop()
        if acd is not None:
            acd.stop()  # sends the Hangup/Abandon of the calls shutdown just ended
        if registry is not None:
            registry.stop()  # a `stopped` record: every call was ended and logged
        control.stop()
        sip.stop()
        media.close()
        publisher.close()  # sends what is queued, within its deadline
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(sys.argv[1:] if argv is None else argv))
