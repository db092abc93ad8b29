"""An operator's HTTP API as a data source (kind `http`): GET a URL with the key in it,
a JSON object back, 404 for "no such record".

Standard library only (urllib). Redirects are refused rather than followed: a
redirect to another host would carry the credential headers there.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import quote, urlsplit, urlunsplit

from ._deadline import call_with_deadline
from ._errors import DataSourceError

__all__ = ["HttpSource"]

MAX_BODY = 1 << 20  # a record, not a download


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class HttpSource:
    """GET `url_template` with `{key}` replaced by the URL-quoted key, within
    `deadline_ms`. A JSON object is the record (numbers with a fraction as Decimal,
    everything else as JSON has it: dates stay ISO strings); 404 is None; any other
    status, a body that is no JSON object, no answer in time: DataSourceError."""

    kind = "http"

    def __init__(
        self,
        name: str,
        url_template: str,
        *,
        deadline_ms: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if urlsplit(url_template).scheme not in ("http", "https"):
            raise DataSourceError(f"data source {name!r}: {url_template!r} is no http(s) URL")
        self.name = name
        self.url_template = url_template
        self.deadline_ms = deadline_ms
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.describe = f"data source {name!r} (http GET {_without_userinfo(url_template)})"
        self._opener = urllib.request.build_opener(_NoRedirects)

    def lookup(self, key: str) -> Mapping[str, object] | None:
        url = self.url_template.format(key=quote(key, safe=""))
        # The scheme is http(s), checked above; the key cannot change it (quoted, after it).
        request = urllib.request.Request(url, headers=self.headers, method="GET")  # noqa: S310
        return call_with_deadline(lambda: self._get(request), self.deadline_ms, self.describe)

    def close(self) -> None:
        """Nothing is kept open between lookups."""

    def _get(self, request: urllib.request.Request) -> dict[str, object] | None:
        # The socket timeout bounds each wait; call_with_deadline bounds the sum.
        try:
            with self._opener.open(request, timeout=self.deadline_ms / 1000) as response:
                body = response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                return None
            raise DataSourceError(f"{self.describe}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:  # refused, no route, a timeout connecting
            raise self._failed(exc.reason) from None
        except OSError as exc:  # a timeout or a reset while reading the answer
            raise self._failed(exc) from None
        if len(body) > MAX_BODY:
            raise DataSourceError(f"{self.describe}: answer larger than {MAX_BODY} bytes")
        try:
            record = json.loads(body, parse_float=Decimal)
        except (UnicodeDecodeError, ValueError) as exc:
            raise DataSourceError(f"{self.describe}: the answer is not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise DataSourceError(
                f"{self.describe}: the answer is JSON but not an object ({type(record).__name__})"
            )
        return record

    def _failed(self, reason: object) -> DataSourceError:
        if isinstance(reason, TimeoutError):
            return DataSourceError(f"{self.describe}: no answer within {self.deadline_ms} ms")
        if isinstance(reason, OSError) and reason.strerror:
            return DataSourceError(f"{self.describe}: {reason.strerror}")
        return DataSourceError(f"{self.describe}: {reason}")


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
