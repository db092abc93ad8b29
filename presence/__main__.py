"""`python -m presence`: report the agents' phone presence from Kamailio to the ACD.

    python -m presence --kamailio-rpc run/rpc/kamailio.fifo --acd 127.0.0.1:50051 \\
        --config callcenter.yaml --interval 2

Run one beside each Kamailio (docs/presence.md); `callcenter up` does when the config
has an `acd:` section.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from pathlib import Path

from acd_client import AcdClient, TokenError, read_token
from configuration import (
    CallCenterConfig,
    ConfigError,
    load_config,
    positive_number,
    split_hostport,
)
from eventlog import DEFAULT_STREAM, Consumer
from presence._agents import agents_from_config
from presence._fifo import KamailioRpc
from presence._mwi import MwiNotifier, mailbox_owners, run_mwi
from presence._watcher import Watcher

log = logging.getLogger("presence")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m presence", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--kamailio-rpc", required=True, type=Path, help="Kamailio's jsonrpcs FIFO (its fifo_name)"
    )
    parser.add_argument(
        "--rpc-reply-dir",
        type=Path,
        help="Kamailio's jsonrpcs fifo_reply_dir (default: the FIFO's folder)",
    )
    parser.add_argument(
        "--acd", required=True, help="ACD replica HOST:PORT, or several separated by commas"
    )
    parser.add_argument(
        "--config",
        required=True,
        type=Path,
        help="the callcenter YAML (or the runtime.json `callcenter up` writes):"
        " its accounts map SIP usernames to employee IDs",
    )
    parser.add_argument(
        "--interval",
        type=positive_number,
        default=2.0,
        help="seconds between polls (default: %(default)s)",
    )
    parser.add_argument(
        "--rpc-timeout",
        type=positive_number,
        default=5.0,
        help="seconds to wait for Kamailio's reply (default: %(default)s)",
    )
    parser.add_argument(
        "--status-file", type=Path, help="JSON written after every poll, for `callcenter status`"
    )
    parser.add_argument(
        "--redis",
        help="HOST:PORT of the event log: with it (and a `bizdata:` store in --config), "
        "voicemail changes light the phones' message-waiting lamps (MWI)",
    )
    parser.add_argument("--event-stream", default=DEFAULT_STREAM, help="event log stream key")
    parser.add_argument(
        "--node",
        default=socket.gethostname(),
        help="this watcher's name: its MWI consumer group is presence.mwi.<node>",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config)
        agents = agents_from_config(config)
        token_file = config.acd.token_file if config.acd is not None else None
        token = None if token_file is None else read_token(token_file)
    except (ConfigError, TokenError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    addresses = [a.strip() for a in args.acd.split(",") if a.strip()]
    if not addresses:
        print("error: --acd names no address", file=sys.stderr)
        return 2
    rpc = KamailioRpc(args.kamailio_rpc, reply_dir=args.rpc_reply_dir, timeout=args.rpc_timeout)
    # Each RPC may retry on the other replicas for a while (at least one interval);
    # past that the next poll derives the same reports again. The per-attempt deadline
    # does not shrink with a short interval: a slow reply is not an outage.
    acd = AcdClient(addresses, timeout=2.0, retry_for=max(args.interval, 2.0), token=token)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    mwi = None
    if args.redis:
        mwi = start_mwi(config, args, stop)
    try:
        Watcher(rpc, acd, agents, status_file=args.status_file).run(args.interval, stop)
    finally:
        stop.set()
        if mwi is not None:
            mwi.join(timeout=3)
        acd.close()
    return 0


def start_mwi(
    config: CallCenterConfig, args: argparse.Namespace, stop: threading.Event
) -> threading.Thread | None:
    """The MWI thread (its own Kamailio RPC client, Redis consumer and store engine);
    None, with a warning, when the config has no business store to count messages."""
    if config.bizdata is None:
        log.warning("no bizdata: store in the config: no message-waiting indication")
        return None
    import redis  # noqa: PLC0415

    import bizdata  # noqa: PLC0415 - SQLAlchemy only with MWI

    try:
        engine = bizdata.open_engine(
            bizdata.store_url(config.bizdata, args.config.resolve().parent),
            password_env=config.bizdata.password_env,
            deadline_ms=2000,
        )
    except bizdata.StoreError as exc:
        log.error("MWI off: cannot open the business store: %s", exc)
        return None

    def count(box: str) -> tuple[int, int]:
        counts = bizdata.count_voicemail(engine, box)
        return int(counts.get("new", 0)), int(counts.get("heard", 0))

    host, port = split_hostport(args.redis)
    consumer = Consumer(
        redis.Redis(host=host, port=port, socket_timeout=5),
        group=f"presence.mwi.{args.node}",
        name=args.node,
        stream=args.event_stream,
        start_id="$",  # the state is sent at start; older changes say nothing new
    )
    rpc = KamailioRpc(args.kamailio_rpc, reply_dir=args.rpc_reply_dir, timeout=args.rpc_timeout)
    notifier = MwiNotifier(rpc, mailbox_owners(config), count, realm=config.sip.realm)
    thread = threading.Thread(
        target=run_mwi, args=(notifier, consumer.poll, stop), name="mwi", daemon=True
    )
    thread.start()
    log.info("MWI: voicemail changes from %s (group %s)", args.redis, consumer.group)
    return thread


if __name__ == "__main__":
    sys.exit(main())
