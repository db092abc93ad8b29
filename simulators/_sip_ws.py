"""A SIP user agent over a WebSocket (RFC 7118), as the desktop's JsSIP softphone speaks
it, without a browser: REGISTER with digest, take or refuse an INVITE, hang up, call.

For tests and benchmarks of Kamailio's WSS edge. It speaks SIP only: its SDP answer
looks like a browser's (ICE, DTLS fingerprint) but it runs no ICE or DTLS, so no media
flows to it. The same agent also runs over UDP (`SipPhone.udp`), for a like-for-like
baseline. One asyncio task reads the transport; requests it does not handle itself
(OPTIONS keepalives get 200) go to `incoming`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

# A browser's SDP answer as far as the edge's SIP and rtpengine care: DTLS (fingerprint,
# setup:active), ICE credentials and one host candidate, RTCP on the RTP port, G.711.
_ANSWER_SDP = (
    "v=0\r\n"
    "o=- {session} 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "m=audio {port} UDP/TLS/RTP/SAVPF {payloads}\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=rtcp:{port} IN IP4 127.0.0.1\r\n"
    "a=candidate:1 1 udp 2122260223 127.0.0.1 {port} typ host\r\n"
    "a=ice-ufrag:{ufrag}\r\n"
    "a=ice-pwd:{pwd}\r\n"
    "a=fingerprint:sha-256 {fingerprint}\r\n"
    "a=setup:active\r\n"
    "a=mid:0\r\n"
    "a={direction}\r\n"
    "a=rtcp-mux\r\n"
    "{rtpmaps}"
)
_RTPMAPS = {"0": "PCMU/8000", "8": "PCMA/8000", "101": "telephone-event/8000"}


def webrtc_sdp(
    port: int = 9, payloads: tuple[str, ...] = ("0", "8", "101"), direction: str = "sendrecv"
) -> str:
    """An SDP offer or answer shaped like a browser's (see the module docstring)."""
    fingerprint = ":".join(f"{b:02X}" for b in secrets.token_bytes(32))
    return _ANSWER_SDP.format(
        session=secrets.randbelow(10**12),
        port=port,
        payloads=" ".join(payloads),
        ufrag=secrets.token_hex(4),
        pwd=secrets.token_hex(12),
        fingerprint=fingerprint,
        direction=direction,
        rtpmaps="".join(f"a=rtpmap:{p} {_RTPMAPS[p]}\r\n" for p in payloads if p in _RTPMAPS),
    )


@dataclass
class SipMessage:
    first_line: str
    headers: list[tuple[str, str]]
    body: str = ""

    @classmethod
    def parse(cls, text: str) -> SipMessage:
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((_COMPACT.get(name.strip().lower(), name.strip()), value.strip()))
        return cls(lines[0], headers, body)

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0] if self.is_request else self.cseq[1]

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.first_line.split(" ", 2)[1])

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.header("CSeq").partition(" ")
        return int(number), method.strip()

    def header(self, name: str) -> str:
        return next((v for n, v in self.headers if n.lower() == name.lower()), "")

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def render(self) -> str:
        lines = [self.first_line, *(f"{n}: {v}" for n, v in self.headers)]
        lines.append(f"Content-Length: {len(self.body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + self.body


_COMPACT = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
}


def _tag(header: str) -> str:
    found = re.search(r";\s*tag=([^;>\s]+)", header)
    return found.group(1) if found else ""


def _uri(header: str) -> str:
    found = re.search(r"<([^>]+)>", header)
    return found.group(1) if found else header.split(";", 1)[0].strip()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def digest_authorization(
    challenge: str, *, method: str, uri: str, username: str, ha1: str, nc: int = 1
) -> str:
    """The Authorization value answering a WWW-/Proxy-Authenticate `challenge` (RFC 2617,
    MD5, qop=auth when offered), computed from HA1: the clear password is never needed."""
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge))
    realm, nonce = params["realm"], params["nonce"]
    ha2 = _md5(f"{method}:{uri}")
    value = f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}"'
    if "auth" in params.get("qop", "").split(","):
        cnonce = secrets.token_hex(8)
        response = _md5(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
        value += f', qop=auth, nc={nc:08x}, cnonce="{cnonce}"'
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    value += f', response="{response}", algorithm=MD5'
    if "opaque" in params:
        value += f', opaque="{params["opaque"]}"'
    return value


@dataclass
class Dialog:
    """One call as this agent sees it (the UAS side of an incoming INVITE, or the UAC)."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: list[str]
    invite: SipMessage | None = None
    local_cseq: int = 1


class _Transport:
    async def send(self, text: str) -> None:
        raise NotImplementedError

    async def receive(self) -> str:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _WebSocketTransport(_Transport):
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def receive(self) -> str:
        data = await self.ws.recv()
        return data if isinstance(data, str) else data.decode()

    async def close(self) -> None:
        await self.ws.close()


class _UdpTransport(_Transport, asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        self.queue.put_nowait(data.decode(errors="replace"))

    async def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode())

    async def receive(self) -> str:
        return await self.queue.get()

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass
class SipPhone:
    """One agent's softphone. Build with `SipPhone.websocket(...)` or `SipPhone.udp(...)`."""

    username: str
    realm: str
    ha1: str
    transport_name: str  # "WSS" or "UDP", for Via
    _transport: _Transport
    local_host: str
    incoming: asyncio.Queue[SipMessage] = field(default_factory=asyncio.Queue)
    _pending: dict[tuple[str, int, str], asyncio.Future[SipMessage]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None
    # Extra Contact parameters and headers on REGISTER, e.g. what JsSIP sends
    # (`;reg-id=1;+sip.instance="<urn:uuid:...>"`, `Supported: path, gruu, outbound`).
    register_params: str = ""
    register_headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    async def websocket(
        cls,
        url: str,
        username: str,
        realm: str,
        ha1: str,
        *,
        ca_file: str | None = None,
        open_timeout: float = 5.0,
    ) -> SipPhone:
        context = None
        if url.startswith("wss:"):
            context = ssl.create_default_context(cafile=ca_file)
        ws = await connect(
            url,
            subprotocols=[Subprotocol("sip")],
            ssl=context,
            open_timeout=open_timeout,
            compression=None,
        )
        phone = cls(
            username,
            realm,
            ha1,
            "WSS" if url.startswith("wss:") else "WS",
            _WebSocketTransport(ws),
            f"{secrets.token_hex(6)}.invalid",
        )
        phone._reader = asyncio.create_task(phone._read())
        return phone

    @classmethod
    async def udp(cls, proxy: str, username: str, realm: str, ha1: str) -> SipPhone:
        host, _, port = proxy.rpartition(":")
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            _UdpTransport, remote_addr=(host, int(port))
        )
        local = transport.get_extra_info("sockname")
        phone = cls(username, realm, ha1, "UDP", protocol, f"{local[0]}:{local[1]}")
        phone._reader = asyncio.create_task(phone._read())
        return phone

    # -- plumbing ------------------------------------------------------------------
    async def _read(self) -> None:
        while True:
            try:
                text = await self._transport.receive()
            except Exception:  # the connection is gone; waiters time out
                return
            message = SipMessage.parse(text)
            if message.is_request:
                if message.method == "OPTIONS":
                    await self._reply(message, 200, "OK")
                else:
                    self.incoming.put_nowait(message)
                continue
            via = message.header("Via")
            branch = re.search(r"branch=([^;\s,]+)", via)
            key = (message.header("Call-ID"), message.cseq[0], branch.group(1) if branch else "")
            waiter = self._pending.get(key)
            if waiter is not None and not waiter.done() and message.status >= 200:
                waiter.set_result(message)

    @property
    def aor(self) -> str:
        return f"sip:{self.username}@{self.realm}"

    @property
    def contact(self) -> str:
        transport = "ws" if self.transport_name.startswith("WS") else "udp"
        return f"<sip:{self.username}@{self.local_host};transport={transport}>"

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/{self.transport_name} {self.local_host};branch={branch};rport"

    async def _transaction(
        self, request: SipMessage, timeout: float
    ) -> SipMessage:  # the final response
        via = request.header("Via")
        branch = re.search(r"branch=([^;\s,]+)", via)
        assert branch is not None
        key = (request.header("Call-ID"), request.cseq[0], branch.group(1))
        future: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            await self._transport.send(request.render())
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(key, None)

    async def _reply(
        self,
        request: SipMessage,
        code: int,
        reason: str,
        *,
        to_tag: str = "",
        body: str = "",
        contact: bool = False,
    ) -> None:
        headers = [(n, v) for n, v in request.headers if n in ("Via", "Record-Route")]
        to = request.header("To")
        if to_tag and not _tag(to):
            to += f";tag={to_tag}"
        headers += [
            ("From", request.header("From")),
            ("To", to),
            ("Call-ID", request.header("Call-ID")),
            ("CSeq", request.header("CSeq")),
        ]
        if contact:
            headers.append(("Contact", self.contact))
        if body:
            headers.append(("Content-Type", "application/sdp"))
        await self._transport.send(SipMessage(f"SIP/2.0 {code} {reason}", headers, body).render())

    async def respond(self, request: SipMessage, code: int = 200, reason: str = "OK") -> None:
        """Answer an in-dialog request (a BYE from the far end, say) without a body."""
        await self._reply(request, code, reason)

    # -- registration ------------------------------------------------------------------
    async def register(self, expires: int = 600, timeout: float = 5.0) -> int:
        """REGISTER, answering one digest challenge; the final status (200, 403, ...)."""
        call_id = secrets.token_hex(10)
        from_tag = secrets.token_hex(4)
        uri = f"sip:{self.realm}"
        authorization = ""
        for cseq in (1, 2):
            headers = [
                ("Via", self._via(f"z9hG4bK{secrets.token_hex(8)}")),
                ("Max-Forwards", "70"),
                ("From", f"<{self.aor}>;tag={from_tag}"),
                ("To", f"<{self.aor}>"),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} REGISTER"),
                ("Contact", f"{self.contact}{self.register_params};expires={expires}"),
                ("Expires", str(expires)),
                *self.register_headers,
            ]
            if authorization:
                headers.append(("Authorization", authorization))
            reply = await self._transaction(SipMessage(f"REGISTER {uri} SIP/2.0", headers), timeout)
            if reply.status != 401 or authorization:
                return reply.status
            authorization = digest_authorization(
                reply.header("WWW-Authenticate"),
                method="REGISTER",
                uri=uri,
                username=self.username,
                ha1=self.ha1,
            )
        raise AssertionError("unreachable")

    # -- outgoing calls ----------------------------------------------------------------
    async def call(
        self, user: str, sdp: str, timeout: float = 10.0
    ) -> tuple[SipMessage, Dialog | None]:
        """INVITE another account (an internal call), answering one proxy digest
        challenge; the final response, and the dialog when it was answered (ACKed)."""
        call_id = secrets.token_hex(10)
        from_tag = secrets.token_hex(4)
        uri = f"sip:{user}@{self.realm}"
        local = f"<{self.aor}>;tag={from_tag}"
        authorization = ""
        for cseq in (1, 2):
            branch = f"z9hG4bK{secrets.token_hex(8)}"
            headers = [
                ("Via", self._via(branch)),
                ("Max-Forwards", "70"),
                ("From", local),
                ("To", f"<{uri}>"),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} INVITE"),
                ("Contact", self.contact),
                ("Content-Type", "application/sdp"),
            ]
            if authorization:
                headers.append(("Proxy-Authorization", authorization))
            reply = await self._transaction(
                SipMessage(f"INVITE {uri} SIP/2.0", headers, sdp), timeout
            )
            if reply.status >= 300:
                # The ACK of a failure is hop-by-hop: the INVITE's branch, its To tag.
                ack = [
                    ("Via", self._via(branch)),
                    ("Max-Forwards", "70"),
                    ("From", local),
                    ("To", reply.header("To")),
                    ("Call-ID", call_id),
                    ("CSeq", f"{cseq} ACK"),
                ]
                await self._transport.send(SipMessage(f"ACK {uri} SIP/2.0", ack).render())
            if reply.status == 407 and not authorization:
                authorization = digest_authorization(
                    reply.header("Proxy-Authenticate"),
                    method="INVITE",
                    uri=uri,
                    username=self.username,
                    ha1=self.ha1,
                )
                continue
            if reply.status >= 300:
                return reply, None
            # The UAC's route set is the Record-Route list reversed (RFC 3261 12.1.2).
            routes = [r.strip() for rr in reply.all("Record-Route") for r in rr.split(",")]
            dialog = Dialog(
                call_id=call_id,
                local_tag=from_tag,
                remote_tag=_tag(reply.header("To")),
                local_uri=local,
                remote_uri=reply.header("To"),
                remote_target=_uri(reply.header("Contact")),
                route_set=routes[::-1],
                local_cseq=cseq,
            )
            ack = self._in_dialog(dialog, "ACK", cseq)
            await self._transport.send(
                SipMessage(f"ACK {dialog.remote_target} SIP/2.0", ack).render()
            )
            return reply, dialog
        raise AssertionError("unreachable")

    # -- incoming calls ----------------------------------------------------------------
    async def next_request(self, method: str, timeout: float = 5.0) -> SipMessage:
        while True:
            message = await asyncio.wait_for(self.incoming.get(), timeout)
            if message.method == method:
                return message

    async def ring(self, invite: SipMessage) -> Dialog:
        """Send 180 for an INVITE; the dialog to answer, refuse or hang up later."""
        dialog = Dialog(
            call_id=invite.header("Call-ID"),
            local_tag=secrets.token_hex(4),
            remote_tag=_tag(invite.header("From")),
            local_uri=invite.header("To"),
            remote_uri=invite.header("From"),
            remote_target=_uri(invite.header("Contact")),
            # The UAS uses the Record-Route list in order (RFC 3261 12.1.1).
            route_set=[r.strip() for rr in invite.all("Record-Route") for r in rr.split(",")],
            invite=invite,
        )
        await self._reply(invite, 180, "Ringing", to_tag=dialog.local_tag, contact=True)
        return dialog

    async def answer(self, dialog: Dialog, sdp: str | None = None) -> None:
        assert dialog.invite is not None
        await self._reply(
            dialog.invite,
            200,
            "OK",
            to_tag=dialog.local_tag,
            body=sdp if sdp is not None else webrtc_sdp(),
            contact=True,
        )

    async def refuse(self, dialog: Dialog, code: int = 486, reason: str = "Busy Here") -> None:
        assert dialog.invite is not None
        await self._reply(dialog.invite, code, reason, to_tag=dialog.local_tag)

    def _in_dialog(self, dialog: Dialog, method: str, cseq: int) -> list[tuple[str, str]]:
        local = dialog.local_uri
        if not _tag(local):
            local += f";tag={dialog.local_tag}"
        headers = [("Via", self._via(f"z9hG4bK{secrets.token_hex(8)}"))]
        headers += [("Route", r) for r in dialog.route_set]
        return [
            *headers,
            ("Max-Forwards", "70"),
            ("From", local),
            ("To", dialog.remote_uri),
            ("Call-ID", dialog.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]

    async def bye(self, dialog: Dialog, timeout: float = 5.0) -> int:
        """End an answered call from this side; the final status of the BYE."""
        dialog.local_cseq += 1
        headers = self._in_dialog(dialog, "BYE", dialog.local_cseq)
        reply = await self._transaction(
            SipMessage(f"BYE {dialog.remote_target} SIP/2.0", headers), timeout
        )
        return reply.status

    async def reinvite(self, dialog: Dialog, sdp: str, timeout: float = 5.0) -> SipMessage:
        """A re-INVITE with a new offer (hold: a=sendonly), ACKed when it succeeds;
        the final response, whose body is the far end's answer."""
        dialog.local_cseq += 1
        headers = self._in_dialog(dialog, "INVITE", dialog.local_cseq)
        headers += [("Contact", self.contact), ("Content-Type", "application/sdp")]
        reply = await self._transaction(
            SipMessage(f"INVITE {dialog.remote_target} SIP/2.0", headers, sdp), timeout
        )
        if 200 <= reply.status < 300:
            ack = self._in_dialog(dialog, "ACK", dialog.local_cseq)
            await self._transport.send(
                SipMessage(f"ACK {dialog.remote_target} SIP/2.0", ack).render()
            )
        return reply

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(Exception):
            await self._transport.close()


async def answer_next_call(
    phone: SipPhone,
    timeout: float = 5.0,
    decide: Callable[[SipMessage], Awaitable[int]] | None = None,
) -> tuple[SipMessage, Dialog]:
    """Wait for an INVITE, ring, and answer it (or refuse with `decide`'s code)."""
    invite = await phone.next_request("INVITE", timeout)
    dialog = await phone.ring(invite)
    code = 200 if decide is None else await decide(invite)
    if code == 200:
        await phone.answer(dialog)
    else:
        await phone.refuse(dialog, code, "Refused")
    return invite, dialog
