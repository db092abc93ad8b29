"""A registered phone's keepalive side, for tests: answers every OPTIONS with 200.

sipp cannot play this part: in server mode each new Call-ID starts a call of its
scenario, so a UAS waiting for an INVITE answers at most one keepalive (with -aa)
and the next one goes unanswered. Calls are not this responder's business.
"""

from __future__ import annotations

import secrets
import socket
import threading


class OptionsResponder:
    """The part of a phone the keepalive needs: a 200 to every OPTIONS, on its own port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="options-responder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            text = data.decode(errors="replace")
            if not text.startswith("OPTIONS "):
                continue
            head = text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
            keep = [
                h
                for h in head
                if h.split(":", 1)[0].strip().lower() in ("via", "from", "call-id", "cseq")
            ]
            to = next(h for h in head if h.lower().startswith("to:"))
            # usrloc matches the reply by its From URI and tag, copied here unchanged.
            reply = "\r\n".join(
                [
                    "SIP/2.0 200 OK",
                    *keep,
                    f"{to};tag={secrets.token_hex(4)}",
                    "Content-Length: 0",
                    "",
                    "",
                ]
            )
            self.sock.sendto(reply.encode(), peer)
            self.answered += 1

    def stop(self) -> None:
        """The phone dies: nothing answers on its port any more."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
