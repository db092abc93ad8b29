"""`python -m analytics.service --config run/cdr.json`: the CDR service process.

The process entry point (`analytics.daemon_argv`, which `callcenter up` starts): it
reads the settings, runs the daemon (_cdr_daemon.py) until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from ._cdr_daemon import CdrService
from ._config import load_service_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.service")
    parser.add_argument("--config", required=True, help="ServiceSettings file (JSON or YAML)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = load_service_settings(args.config)
    service = CdrService(settings)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    collector = threading.Thread(target=service.run_collector, name="collector")
    collector.start()
    host, port = service.start_http()
    logging.getLogger("analytics.service").info(
        "CDR service: store=%s dialect=%s api=http://%s:%d stream=%s group=%s consumer=%s",
        settings.analytics.store,
        service.store.dialect.name,
        host,
        port,
        settings.analytics.stream,
        settings.analytics.group,
        settings.analytics.consumer,
    )
    service.stop_event.wait()
    collector.join()
    service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
