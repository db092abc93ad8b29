"""The local stack: which daemons a config asks for, and bringing them up and down."""

from __future__ import annotations

import json
import secrets
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import analytics
import bizdata
from acd_client import TokenError, ensure_token_file, health_ping, read_token
from callcenter import _process
from callcenter._health import controller_status, ng_ping, redis_ping, sip_options_ping
from callcenter._secrets import tls_paths, write_secrets
from callcenter._tools import kamailio_module_path, require_binary, venv_site_packages
from configuration import (
    PROJECT_ROOT,
    CallCenterConfig,
    ConfigError,
    RunLayout,
    TlsSection,
    split_hostport,
)
from dashboards import DashboardSettings
from desktop import desktop_argv, desktop_healthy
from mixer import managed_mixers, mixer_argv, mixer_daemon, mixer_describe
from presence import (
    PRESENCE_DAEMON,
    PresenceSetupError,
    kamailio_template_values,
    presence_argv,
    presence_describe,
    presence_healthy,
    presence_wanted,
)
from recorder import (
    RECORDER_DAEMON,
    recorder_argv,
    recorder_describe,
    recorder_healthy,
    recorder_wanted,
    rtpengine_recording_args,
    spool_dir,
)

KAMAILIO_TEMPLATE = PROJECT_ROOT / "kamailio" / "kamailio.cfg.tmpl"
KEMI_SCRIPT = PROJECT_ROOT / "kamailio" / "kemi.py"
START_DEADLINE_S = 20.0


class StackError(Exception):
    """A daemon failed to start or to become healthy; the message carries its log tail."""


@dataclass(frozen=True)
class Daemon:
    spec: _process.ProcessSpec
    healthy: Callable[[], bool]
    describe: str


def layout_for(config: CallCenterConfig, config_dir: Path) -> RunLayout:
    return RunLayout((config_dir / config.node.run_dir).resolve())


def render_kamailio_cfg(
    config: CallCenterConfig, layout: RunLayout, *, create_dirs: bool = True
) -> str:
    """kamailio.cfg for `layout`; create_dirs=False: create nothing, only render."""
    socks = " ".join(f"udp:{n.ng}={n.weight}" for n in config.rtpengine.nodes)
    template = string.Template(KAMAILIO_TEMPLATE.read_text())
    try:  # phone keepalive and the JSON-RPC FIFO (docs/presence.md)
        presence_values = kamailio_template_values(config, layout, create_dirs=create_dirs)
    except PresenceSetupError as exc:
        raise StackError(str(exc)) from None
    return template.substitute(
        **_wss_values(config, layout),
        workers=config.sip.workers,
        sip_listen=config.sip.listen,
        realm=config.sip.realm,
        module_path=kamailio_module_path(),
        ctl_socket=layout.kamailio_ctl,
        transaction_timeout_ms=config.timers.transaction_timeout_ms,
        invite_timeout_ms=config.timers.invite_timeout_ms,
        auth_secret=secrets.token_hex(16),
        rtpengine_socks=f'modparam("rtpengine", "rtpengine_sock", "{socks}")',
        rtpengine_timeout_ms=config.sip.rtpengine_timeout_ms,
        rtpengine_disable_s=config.sip.rtpengine_disable_s,
        dispatcher_list=layout.dispatcher_list,
        controller_ping_interval_s=config.sip.controller_ping_interval_s,
        sip_ping_from=f"sip:dispatcher@{config.sip.listen}",
        kemi_script=KEMI_SCRIPT,
        **presence_values,
    )


# WSS connections Kamailio keeps open at once (browsers, one each; TCP's and TLS's limits).
WSS_MAX_CONNECTIONS = 16384


def _wss_values(config: CallCenterConfig, layout: RunLayout) -> dict[str, object]:
    """The template's WSS block: on (WITH_WSS defined) when sip.wss_listen is set."""
    wss = config.sip.wss_listen
    return {
        "wss_define": "#!define WITH_WSS" if wss is not None else "",
        "wss_listen": wss or "",
        "wss_max_connections": WSS_MAX_CONNECTIONS,
        "tls_cfg": layout.kamailio_tls_cfg,
    }


def render_kamailio_tls_cfg(config: CallCenterConfig) -> str | None:
    """Kamailio's tls.cfg (the tls module's own format) with the `tls:` certificate, or
    None without WSS. The files must exist: Kamailio would fail to start with an error
    about OpenSSL, not about what to do."""
    if config.sip.wss_listen is None:
        return None
    cert, key = Path(config.tls.cert), Path(config.tls.key)
    missing = [
        f"tls.{name} {path}" for name, path in (("cert", cert), ("key", key)) if not path.is_file()
    ]
    if missing:
        raise StackError(
            f"sip.wss_listen is set but {' and '.join(missing)} not found; run "
            "`callcenter secrets` for a self-signed demo certificate, or point tls.cert "
            'and tls.key at real ones (docs/desktop.md, "Certificates")'
        )
    # The browser sends no client certificate; TLS 1.2 or newer only.
    return (
        "# Rendered by `callcenter up` from the config's tls: section; do not edit.\n"
        "[server:default]\n"
        "method = TLSv1.2+\n"
        "verify_certificate = no\n"
        "require_certificate = no\n"
        f"certificate = {cert}\n"
        f"private_key = {key}\n"
        "\n"
        "[client:default]\n"
        "method = TLSv1.2+\n"
        "verify_certificate = no\n"
        "require_certificate = no\n"
    )


def write_kamailio_files(config: CallCenterConfig, layout: RunLayout) -> None:
    """kamailio.cfg, dispatcher.list and (with WSS) tls.cfg into the run directory."""
    tls_cfg = render_kamailio_tls_cfg(config)
    if tls_cfg is not None:
        layout.kamailio_tls_cfg.write_text(tls_cfg)
    layout.dispatcher_list.write_text(render_dispatcher_list(config))
    layout.kamailio_cfg.write_text(render_kamailio_cfg(config, layout))


# Dispatcher set of the call-controller replicas (routing.kemi selects from it).
CONTROLLER_SET = 1


def render_dispatcher_list(config: CallCenterConfig) -> str:
    """The dispatcher list file: `setid destination flags priority` per replica.

    Flags 0: active, and probed like every destination (ds_probing_mode 1).
    An empty file is valid: numbers with target controller are refused then.
    """
    lines = ["# Rendered by `callcenter up` from the config's controllers:; do not edit."]
    lines += [f"{CONTROLLER_SET} sip:{c.sip} 0 0" for c in config.controllers]
    return "\n".join(lines) + "\n"


def controller_argv(
    config: CallCenterConfig,
    index: int,
    prompt_cache: Path | None = None,
    runtime_config: Path | None = None,
) -> list[str]:
    replica = config.controllers[index]
    rtpengine = replica.rtpengine or config.rtpengine.nodes[0].ng
    return [
        sys.executable,
        "-m",
        "controller",
        "--sip",
        replica.sip,
        "--rtpengine",
        rtpengine,
        "--control",
        replica.control,
        "--redis",
        config.redis.listen,
        "--node",
        replica.name or f"{config.node.name}-ctl{index}",
        "--ring-timeout",
        str(config.timers.ring_timeout_ms / 1000),
        "--rtp-timeout",
        f"{config.timers.dead_leg_timeout_ms / 1000:g}",
        "--media-check-interval",
        f"{config.timers.media_check_interval_ms / 1000:g}",
        # Legs to registered agents and to trunks go back through Kamailio.
        "--edge",
        edge_address(config),
        *controller_acd_args(config),
        *controller_queue_media_args(config, prompt_cache),
        *controller_ivr_args(config, prompt_cache, runtime_config),
        *controller_voicemail_args(config, prompt_cache, runtime_config),
        *controller_recording_args(config),
    ]


def controller_recording_args(config: CallCenterConfig) -> list[str]:
    """Always-on recording (docs/recording.md): `--record-number` for every number with
    `record: true` (from the caller's answer), `--record-queue` for every queue with it
    (from the agent's answer)."""
    numbers = ",".join(n.number for n in config.numbers if n.record)
    queues = ",".join(q.name for q in config.queues if q.record)
    return [
        *(["--record-number", numbers] if numbers else []),
        *(["--record-queue", queues] if queues else []),
    ]


def edge_address(config: CallCenterConfig) -> str:
    """Where a replica sends its legs: Kamailio's sip.listen (advertise_ip for a wildcard)."""
    host, port = split_hostport(config.sip.listen)
    if host in ("0.0.0.0", "::"):
        host = config.node.advertise_ip
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def controller_acd_args(config: CallCenterConfig) -> list[str]:
    """With an `acd:` section the ACD drives the replicas' calls (docs/call-control.md):
    `--acd` and the `--queue-for` of every number with a queue (config validation makes
    every number with target controller name one then). Without such a number a replica
    still gets `--acd`: the edge sends it the internal calls between agents, whose
    callee it reserves at the ACD (routing/_table.py, `internal_via_controller`)."""
    queue_for = ",".join(f"{r.number}={r.queue}" for r in config.numbers if r.queue is not None)
    if config.acd is None:
        return []
    acd = config.acd
    # The live-call record the ACD reconciles against (docs/acd-service.md, "Reconcile").
    registry = [
        "--acd-heartbeat",
        str(acd.controller_heartbeat_ms / 1000),
        "--acd-heartbeat-ttl",
        str(acd.controller_record_ttl_ms / 1000),
        "--acd-prefix",
        acd.redis_prefix,
    ]
    queues = ["--queue-for", queue_for] if queue_for else []
    token = [] if acd.token_file is None else ["--acd-token-file", str(acd.token_file)]
    return ["--acd", acd.advertise or acd.listen, *queues, *registry, *token]


def controller_queue_media_args(config: CallCenterConfig, prompt_cache: Path | None) -> list[str]:
    """Music on hold for the calls the ACD queues (docs/call-control.md): the prompt cache
    (under the run directory, so rtpengine on this host reads the files) and every
    queue's language, announcement interval, music and delay before the music. Nothing
    without `--acd`."""
    if prompt_cache is None or not controller_acd_args(config):
        return []
    args = ["--prompt-cache", str(prompt_cache.resolve())]
    for q in config.queues:
        music = f":{q.music_file}" if q.music_file else ""
        args += [
            "--queue-media",
            f"{q.name}:{q.language}:{q.announce_every_ms / 1000:g}{music}",
            "--music-after",
            f"{q.name}={q.music_after_ms / 1000:g}",
        ]
    return args


def controller_ivr_args(
    config: CallCenterConfig, prompt_cache: Path | None, runtime_config: Path | None
) -> list[str]:
    """The IVR the replicas host (docs/call-control.md, "IVR"): the flows directory
    (`load_config` made it absolute), each number's flow, the prompt cache, and the
    run directory's runtime.json, from which a replica takes the numbers' open hours
    and closed rules, the schedules and the data sources (`bizdata:`). Nothing when
    no number has a flow or hours."""
    numbers = [r for r in config.numbers if r.ivr is not None or r.hours is not None]
    if not numbers:
        return []
    args = ["--ivr-flows", config.ivr.flows_dir]
    flows = ",".join(f"{r.number}={r.ivr}" for r in numbers if r.ivr is not None)
    if flows:
        args += ["--ivr-for", flows]
    if prompt_cache is not None:
        args += ["--ivr-prompt-cache", str(prompt_cache.resolve())]
    if runtime_config is not None:
        args += ["--ivr-settings", str(runtime_config.resolve())]
    args += ["--ivr-state-ttl", f"{config.ivr.state_ttl_ms / 1000:g}"]
    return args


def controller_voicemail_args(
    config: CallCenterConfig, prompt_cache: Path | None, runtime_config: Path | None
) -> list[str]:
    """Voicemail (docs/call-control.md, "Voicemail"): the replicas read the mailboxes,
    the queues' boxes, the escape key and the business store from runtime.json. Nothing
    when no number, queue or IVR flow can reach a box (no `voicemail.boxes`, no
    `voicemail_box`, no closed voicemail; an IVR flow may name an agent's box), or
    without the prompt cache or runtime.json."""
    if prompt_cache is None or runtime_config is None:
        return []
    wanted = (
        config.voicemail.boxes
        or any(q.voicemail_box for q in config.queues)
        or any(r.ivr is not None or (r.closed and r.closed.voicemail) for r in config.numbers)
    )
    if not wanted:
        return []
    return [
        "--voicemail-settings",
        str(runtime_config.resolve()),
        "--voicemail-prompt-cache",
        str(prompt_cache.resolve()),
    ]


def plan(config: CallCenterConfig, layout: RunLayout) -> list[Daemon]:
    """The daemons to run, in start order (Kamailio last: it pings rtpengine at start).

    The ACD replica (when the config has an `acd:` section) starts after Redis,
    which holds its state, and before Kamailio, which asks it for agents.
    """
    daemons: list[Daemon] = []
    if config.redis.managed:
        host, port = split_hostport(config.redis.listen)
        redis_dir = layout.data / "redis"
        daemons.append(
            Daemon(
                _process.ProcessSpec(
                    "redis",
                    [
                        require_binary("redis-server"),
                        "--bind",
                        host,
                        "--port",
                        str(port),
                        "--dir",
                        str(redis_dir),
                        "--appendonly",
                        "yes",
                        "--save",
                        "",
                        "--daemonize",
                        "no",
                        "--protected-mode",
                        "yes",
                    ],
                ),
                lambda: redis_ping(config.redis.listen, timeout=0.3),
                f"redis {config.redis.listen}",
            )
        )
    for i, node in enumerate(config.rtpengine.nodes):
        if not node.managed:
            continue
        ng = node.ng

        def probe(ng: str = ng) -> bool:
            return ng_ping(ng, timeout=0.3)

        daemons.append(
            Daemon(
                _process.ProcessSpec(
                    f"rtpengine{i}",
                    [
                        require_binary("rtpengine"),
                        "--config-file=none",
                        "--foreground",
                        "--table=-1",
                        f"--interface={node.interface}",
                        f"--listen-ng={ng}",
                        # DTMF events go to every client of the same address over TCP:
                        # each controller replica connects (docs/call-control.md, "DTMF").
                        f"--listen-tcp-ng={ng}",
                        "--dtmf-log-ng-tcp",
                        f"--port-min={node.port_min}",
                        f"--port-max={node.port_max}",
                        f"--timeout={config.rtpengine.rtp_timeout_s}",
                        # Forget a call at once on delete, so "no session left" is checkable.
                        "--delete-delay=0",
                        "--log-stderr",
                        "--log-level=5",
                        # With `recording:`: pcaps into the spool the recorder reads.
                        *rtpengine_recording_args(config, layout),
                    ],
                ),
                probe,
                f"rtpengine ng {ng}",
            )
        )
    # The mixers (supervisor monitoring) before the controllers, which pick a healthy one
    # per monitored call; their probe is an ng ping, like rtpengine's.
    for i, mixer_node in managed_mixers(config):

        def mixer_probe(ng: str = mixer_node.ng) -> bool:
            return ng_ping(ng, timeout=0.3)

        daemons.append(
            Daemon(
                _process.ProcessSpec(
                    mixer_daemon(i),
                    mixer_argv(layout.runtime_config, i),
                    env={"PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
                ),
                mixer_probe,
                mixer_describe(config, i),
            )
        )
    # The recorder after Redis (the event log) and the store's migration (its index),
    # before the controllers, whose first recording it must not miss.
    if recorder_wanted(config):
        daemons.append(
            Daemon(
                _process.ProcessSpec(
                    RECORDER_DAEMON,
                    recorder_argv(layout.runtime_config, run_dir=layout.root),
                    env={"PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
                ),
                lambda: recorder_healthy(config, timeout=0.3),
                recorder_describe(config),
            )
        )
    # Controllers after rtpengine (their media) and Redis (their event log), before
    # Kamailio, whose dispatcher probes them from the start.
    for i, replica in enumerate(config.controllers):
        if not replica.managed:
            continue
        control = replica.control

        def controller_probe(control: str = control) -> bool:
            return controller_status(control, timeout=0.3)

        daemons.append(
            Daemon(
                _process.ProcessSpec(
                    f"controller{i}",
                    controller_argv(config, i, layout.root / "prompts", layout.runtime_config),
                    env={"PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
                ),
                controller_probe,
                f"call controller {i} sip {replica.sip} control {control}",
            )
        )
    if config.acd is not None and config.acd.managed:
        acd_listen = config.acd.listen
        daemons.append(
            Daemon(
                _process.ProcessSpec(
                    "acd",
                    [
                        sys.executable,
                        "-m",
                        "acdsvc",
                        "--config",
                        str(layout.runtime_config),
                        "--listen",
                        acd_listen,
                        "--run-dir",
                        str(layout.root),
                    ],
                    env={"PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
                ),
                lambda: health_ping(acd_listen, timeout=0.3),
                f"acd grpc {acd_listen}",
            )
        )
    if config.analytics is not None:
        daemons.append(
            Daemon(
                _process.ProcessSpec("cdr", analytics.daemon_argv(layout.cdr_settings)),
                analytics.health_probe(config.analytics),
                f"cdr service {config.analytics.listen}",
            )
        )
    if config.dashboards is not None and config.dashboards.managed:
        dashboards_url = f"http://{config.dashboards.listen}"
        host, port = split_hostport(config.dashboards.listen)
        daemons.append(
            Daemon(
                _process.ProcessSpec(
                    "dashboards",
                    [
                        sys.executable,
                        "-m",
                        "streamlit",
                        "run",
                        str(PROJECT_ROOT / "dashboards" / "app.py"),
                        "--server.headless",
                        "true",
                        "--server.address",
                        host,
                        "--server.port",
                        str(port),
                        "--browser.gatherUsageStats",
                        "false",
                        "--server.fileWatcherType",
                        "none",
                        "--client.toolbarMode",
                        "minimal",
                    ],
                    env={"HUAAN_DASHBOARD_CONFIG": str(layout.dashboard_settings)},
                ),
                lambda: _http_ok(f"{dashboards_url}/_stcore/health"),
                f"dashboards {dashboards_url}",
            )
        )
    if config.desktop is not None and config.desktop.managed:
        desktop_listen = config.desktop.listen
        cert, key = tls_paths(config)
        daemons.append(
            Daemon(
                _process.ProcessSpec(
                    "desktop",
                    desktop_argv(layout.runtime_config, run_dir=layout.root, cert=cert, key=key),
                    env={"PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
                ),
                lambda: desktop_healthy(desktop_listen, timeout=0.5),
                f"desktop https://{desktop_listen}",
            )
        )
    daemons.append(
        Daemon(
            _process.ProcessSpec(
                "kamailio",
                [
                    require_binary("kamailio"),
                    "-f",
                    str(layout.kamailio_cfg),
                    "-DD",
                    "-E",
                    # TLSF: q_malloc costs 3-4x the CPU per call at load (DESIGN.md).
                    "-x",
                    "tlsf",
                    "-m",
                    str(config.sip.shm_mb),
                    "-M",
                    str(config.sip.pkg_mb),
                ],
                env={
                    "HUAAN_SITE_PACKAGES": venv_site_packages(),
                    "HUAAN_RUNTIME_CONFIG": str(layout.runtime_config),
                    "PYTHONDONTWRITEBYTECODE": "1",
                },
            ),
            lambda: sip_options_ping(config.sip.listen, timeout=0.3) == 200,
            f"kamailio sip {config.sip.listen}",
        )
    )
    if presence_wanted(config):  # after Kamailio, whose registrations it reads
        daemons.append(
            Daemon(
                _process.ProcessSpec(
                    PRESENCE_DAEMON,
                    presence_argv(config, layout),
                    env={"PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
                ),
                lambda: presence_healthy(config, layout),
                presence_describe(config, layout),
            )
        )
    return daemons


def check_kamailio_cfg(config: CallCenterConfig, layout: RunLayout) -> str:
    """Render the files `up` would write and run `kamailio -c` on them; return its output.

    A check changes nothing: the files go to a scratch directory, removed afterwards, so
    a running stack's run directory (its runtime.json, kamailio.cfg) is left as it is.
    The run directory's own paths are still checked (render_kamailio_cfg refuses one
    too long for Kamailio's RPC FIFOs).
    """
    render_kamailio_cfg(config, layout, create_dirs=False)
    note = ""
    with tempfile.TemporaryDirectory(prefix="callcenter-check-") as scratch_dir:
        scratch = RunLayout(Path(scratch_dir))
        if config.sip.wss_listen is not None and not all(p.is_file() for p in tls_paths(config)):
            # `up` writes the demo certificate when it is missing (ensure_certificate), so a
            # fresh install's check must not fail on it: check with a throwaway pair.
            config = config.model_copy(
                update={
                    "tls": TlsSection(
                        cert=str(scratch.root / "tls" / "server.crt"),
                        key=str(scratch.root / "tls" / "server.key"),
                    )
                }
            )
            write_secrets(config)
            note = (
                "note: no tls.cert/tls.key yet: checked with a throwaway certificate; "
                "`callcenter up` writes a self-signed one (`callcenter secrets`)\n"
            )
        write_runtime_config(config, scratch)
        write_kamailio_files(config, scratch)
        result = subprocess.run(
            [require_binary("kamailio"), "-c", "-f", str(scratch.kamailio_cfg), "-x", "tlsf"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={
                "HUAAN_SITE_PACKAGES": venv_site_packages(),
                "HUAAN_RUNTIME_CONFIG": str(scratch.runtime_config),
                "PATH": "/usr/bin:/bin",
            },
        )
    if result.returncode != 0:
        raise StackError(f"kamailio -c failed:\n{result.stdout}{result.stderr}")
    return note + result.stdout + result.stderr


def ensure_certificate(config: CallCenterConfig) -> Path | None:
    """With a desktop or a WSS listener and no certificate yet, write the self-signed demo
    one (`callcenter secrets`); the new certificate's path, None when nothing was done.
    A real install points tls.cert/key at its own files and this never runs."""
    if config.desktop is None and config.sip.wss_listen is None:
        return None
    cert, key = tls_paths(config)
    if cert.is_file() and key.is_file():
        return None
    written = write_secrets(config)
    return Path(written.cert)


def _acd_token_path(config: CallCenterConfig, layout: RunLayout) -> Path | None:
    """Where the stack's ACD service token lives: acd.token_file, else the run
    directory's when the ACD is managed here; None: the stack has no token."""
    if config.acd is None:
        return None
    if config.acd.token_file is not None:
        return config.acd.token_file
    return layout.acd_token if config.acd.managed else None


def with_acd_token(config: CallCenterConfig, layout: RunLayout) -> CallCenterConfig:
    """The config with acd.token_file resolved to an absolute path that holds a token.

    Unset, and the ACD managed here: a token generated in the run directory (kept
    across restarts, so running clients keep working). A file the config names must
    exist already: it is shared with replicas elsewhere, so making one up would
    only lock them out.
    """
    path = _acd_token_path(config, layout)
    if path is None or config.acd is None:
        return config
    if config.acd.token_file is None:
        ensure_token_file(path)
    try:
        read_token(path)
    except TokenError as exc:
        raise StackError(str(exc)) from exc
    acd = config.acd.model_copy(update={"token_file": path.resolve()})
    return config.model_copy(update={"acd": acd})


def acd_token(config: CallCenterConfig, layout: RunLayout) -> str | None:
    """The service token of the stack `up` started from `config` (None without one),
    for clients such as the demo and tests that drive calls or read the snapshot.
    Reads only: `up` made the file."""
    path = _acd_token_path(config, layout)
    return None if path is None else read_token(path)


def write_runtime_config(config: CallCenterConfig, layout: RunLayout) -> None:
    """The validated config for the daemons, plus each service's own settings file.

    runtime.json is the whole config with accounts merged (JSON is YAML, so
    load_config reads it too); the dashboards read accounts from it.
    """
    layout.runtime_config.write_text(json.dumps(config.model_dump(mode="json"), indent=2))
    if config.analytics is not None:
        analytics.write_service_settings(
            layout.cdr_settings, config.analytics, redis=config.redis.listen, run_dir=layout.root
        )
    if config.dashboards is not None:
        settings = DashboardSettings(
            analytics_url=config.analytics.url() if config.analytics else "",
            redis=config.redis.listen,
            acd_address=config.acd.listen if config.acd else "",
            acd_token_file=str(config.acd.token_file or "") if config.acd else "",
            callcenter_config=str(layout.runtime_config),
            sl_threshold_s=config.analytics.sl_threshold_s if config.analytics else 20.0,
            timezone=config.dashboards.timezone,
            **_recording_settings(config, layout),
        )
        layout.dashboard_settings.write_text(settings.model_dump_json(indent=2))


def _recording_settings(config: CallCenterConfig, layout: RunLayout) -> dict[str, Any]:
    """The Recordings page's index (the business store) and WAV directory
    (recording.dir, relative to the run directory); none without `recording:`."""
    if config.recording is None or config.bizdata is None:
        return {}
    return {
        "store_url": store_url(config, layout),
        "store_password_env": config.bizdata.password_env,
        "recording_dir": str(layout.root / config.recording.dir),
    }


def update_runtime_accounts(config: CallCenterConfig, layout: RunLayout) -> bool:
    """Put `config`'s accounts into a stack's runtime.json; False: there is none.

    Kamailio's workers, the ACD and the dashboards watch that file and take the new
    accounts within a few seconds, without a restart (docs/configuration.md,
    "Accounts"). Only the accounts change: the rest stays what `up` validated and
    wrote. The file is replaced in one rename, so a reader never sees half of it.
    """
    path = layout.runtime_config
    if not path.exists():
        return False
    runtime = json.loads(path.read_text(encoding="utf-8"))
    runtime["accounts"] = [a.model_dump(mode="json") for a in config.accounts]
    try:
        CallCenterConfig.model_validate(runtime)
    except ValidationError as exc:
        raise ConfigError(
            f"{path}: the accounts do not fit the running config: {exc.errors()[0]['msg']}"
        ) from None
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(runtime, indent=2), encoding="utf-8")
    tmp.chmod(path.stat().st_mode & 0o777)
    tmp.replace(path)
    return True


def _http_ok(url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except OSError:
        return False


def store_url(config: CallCenterConfig, layout: RunLayout) -> str:
    """The business data store's URL (bizdata.url, else the SQLite file in the run dir)."""
    return bizdata.store_url(config.bizdata, layout.root)


def prepare_store(config: CallCenterConfig, layout: RunLayout) -> str | None:
    """With a `bizdata:` section, migrate the store to the newest schema (idempotent)
    and return its revision: before any daemon starts, so no controller looks data up
    in an older schema. None: no section, no store."""
    if config.bizdata is None:
        return None
    try:
        return bizdata.migrate(store_url(config, layout), password_env=config.bizdata.password_env)
    except bizdata.StoreError as exc:
        raise StackError(f"business data store: {exc}") from None


def up(config: CallCenterConfig, layout: RunLayout) -> list[str]:
    """Migrate the business data store, then start every daemon and wait until each
    answers its health probe.

    On any failure, stops what this call started and raises StackError with the log tail.
    """
    layout.create()
    prepare_store(config, layout)
    if (cert := ensure_certificate(config)) is not None:
        print(f"wrote a self-signed demo certificate {cert} (`callcenter secrets`)")
    (layout.data / "redis").mkdir(exist_ok=True)
    if config.recording is not None:  # rtpengine makes pcaps/ in it, not the directory
        spool_dir(config, layout).mkdir(parents=True, exist_ok=True)
    config = with_acd_token(config, layout)
    write_runtime_config(config, layout)
    write_kamailio_files(config, layout)
    started: list[str] = []
    try:
        for daemon in plan(config, layout):
            name = daemon.spec.name
            pid = _process.read_pid(layout, name)
            if pid is not None and _process.is_alive(pid):
                raise StackError(f"{name} already running (pid {pid}); run `callcenter down`")
            pid = _process.start(layout, daemon.spec)
            started.append(name)
            _wait_healthy(layout, daemon, pid)
    except BaseException:
        for name in reversed(started):
            _process.stop(layout, name, grace=3)
        raise
    return started


def _wait_healthy(layout: RunLayout, daemon: Daemon, pid: int) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if not _process.is_alive(pid):
            raise StackError(
                f"{daemon.describe} exited during start; last log lines:\n"
                f"{_process.tail(layout, daemon.spec.name)}"
            )
        if daemon.healthy():
            return
        time.sleep(0.05)
    raise StackError(
        f"{daemon.describe} not healthy after {START_DEADLINE_S:.0f}s; last log lines:\n"
        f"{_process.tail(layout, daemon.spec.name)}"
    )


# The daemons that watch the ACD's streams for people: stopped before the ACD, so they
# never report it lost.
FACE_DAEMONS = frozenset({"desktop", "dashboards"})


def down(layout: RunLayout) -> list[str]:
    """Stop what `up` recorded: the presence watcher (which reads Kamailio) first, then
    Kamailio so no new calls arrive mid-shutdown, then the controllers, which end their
    calls and report them while the ACD still listens (and so never see it vanish), then
    the faces that watch the ACD (the desktop, the dashboards), then the rest."""
    names = sorted(p.stem for p in layout.pids.glob("*.pid")) if layout.pids.exists() else []

    def order(name: str) -> tuple[int, str]:
        if name == PRESENCE_DAEMON:
            return (0, name)
        if name == "kamailio":
            return (1, name)
        if name.startswith("controller"):
            return (2, name)
        return (3 if name in FACE_DAEMONS else 4, name)

    names.sort(key=order)
    return [name for name in names if _process.stop(layout, name)]


@dataclass(frozen=True)
class DaemonStatus:
    name: str
    describe: str
    pid: int | None
    running: bool
    healthy: bool


def status(config: CallCenterConfig, layout: RunLayout) -> list[DaemonStatus]:
    result = []
    for daemon in plan(config, layout):
        pid = _process.read_pid(layout, daemon.spec.name)
        running = pid is not None and _process.is_alive(pid)
        result.append(
            DaemonStatus(
                daemon.spec.name, daemon.describe, pid, running, running and daemon.healthy()
            )
        )
    return result
