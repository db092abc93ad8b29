"""An operator's billing API, as the `http` data source expects one (docs/bizdata.md).

    python docs/examples/billing_http_api.py [--listen 127.0.0.1:8780] [--csv accounts.csv]
        [--token-env BILLING_API_TOKEN]

GET /accounts/<number> answers 200 with the account as a JSON object, or 404 when
there is none. With --token-env, every request must carry `Authorization: Bearer
<the variable's value>` (401 otherwise): point the source's `headers_env` at the
same variable. The CSV has a header row naming the fields (account_number first);
without one it serves the demo accounts below. The first line on stdout is the URL
it listens on (port 0: any free port), so a script can start it and read where.

Standard library only: it runs wherever Python 3.11 does.
"""

from __future__ import annotations

import argparse
import csv
import hmac
import json
import os
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

# The store's well-known demo accounts (docs/bizdata.md), as a billing system might
# hold them: amounts as JSON numbers, dates as ISO strings.
DEMO_ACCOUNTS: dict[str, dict[str, object]] = {
    "12345674": {
        "account_number": "12345674",
        "customer_name": "张伟",
        "language": "zh",
        "balance": 123.45,
        "due_date": "2026-12-31",
        "status": "active",
    },
    "10000008": {
        "account_number": "10000008",
        "customer_name": "李娜",
        "language": "zh",
        "balance": 0,
        "due_date": "2026-12-31",
        "status": "active",
    },
    "88888888": {
        "account_number": "88888888",
        "customer_name": "John Smith",
        "language": "en",
        "balance": 1234567.80,
        "due_date": "2026-06-30",
        "status": "active",
    },
}


def load_csv(path: str) -> dict[str, dict[str, object]]:
    with open(path, newline="", encoding="utf-8") as file:
        return {row["account_number"]: dict(row) for row in csv.DictReader(file)}


def make_handler(
    accounts: dict[str, dict[str, object]], token: str | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "billing-example/1"

        def do_GET(self) -> None:
            if token is not None:
                given = self.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    self.answer(HTTPStatus.UNAUTHORIZED, {"error": "unauthorised"})
                    return
            prefix, _, number = urlsplit(self.path).path.rpartition("/")
            record = accounts.get(unquote(number)) if prefix == "/accounts" else None
            if record is None:
                self.answer(HTTPStatus.NOT_FOUND, {"error": "no such account"})
            else:
                self.answer(HTTPStatus.OK, record)

        def answer(self, status: HTTPStatus, body: dict[str, object]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            # The path holds the account number: not for the log.
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:8780", help="host:port (port 0: any)")
    parser.add_argument("--csv", help="accounts, one a row, with a header row")
    parser.add_argument("--token-env", help="the environment variable with the bearer token")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            parser.error(f"environment variable {args.token_env} is not set")
    accounts = load_csv(args.csv) if args.csv else DEMO_ACCOUNTS
    server = ThreadingHTTPServer((host, int(port)), make_handler(accounts, token))
    print(f"http://{host}:{server.server_port}/accounts/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
