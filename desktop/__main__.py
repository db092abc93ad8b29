"""`python -m desktop --config PATH`: the desktop over HTTPS (uvicorn, the `tls:`
certificate). `callcenter up` adds --run-dir and the resolved certificate paths."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from configuration import ConfigError, split_hostport

from ._app import create_app
from ._settings import settings_from_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m desktop", description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--run-dir", type=Path, help="the run directory (default: node.run_dir)")
    parser.add_argument("--cert", type=Path, help="default: tls.cert")
    parser.add_argument("--key", type=Path, help="default: tls.key")
    parser.add_argument("--listen", help="host:port (default: desktop.listen)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = settings_from_config(
            args.config, run_dir=args.run_dir, cert=args.cert, key=args.key
        )
    except (ConfigError, ValueError) as exc:
        print(f"desktop: {exc}", file=sys.stderr)
        return 2
    for path in (settings.cert, settings.key):
        if not path.is_file():
            print(
                f"desktop: no TLS file {path}; run `callcenter secrets` (docs/desktop.md)",
                file=sys.stderr,
            )
            return 2
    host, port = split_hostport(args.listen or settings.desktop.listen)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        ssl_certfile=str(settings.cert),
        ssl_keyfile=str(settings.key),
        log_level="info",
        proxy_headers=False,
        server_header=False,
        ws="websockets-sansio",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
