"""Talking to a running stack: raw SIP over UDP, registrations, sipp logs.

Raw SIP is for what sipp cannot send (garbage, broken headers) and for timing a
reply precisely; every call party that must follow a dialog is a sipp scenario.
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from callcenter import sip_options_ping
from configuration import split_hostport
from simulators import AgentPhone, SippRun, registration, start_agent_phone
from testbed._stack import Stack
from testbed._waiting import wait_until

AGENTS = ("1001", "1002", "1003")

SDP = (
    "v=0\r\n"
    "o=raw 1 1 IN IP4 {ip}\r\n"
    "s=-\r\n"
    "c=IN IP4 {ip}\r\n"
    "t=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=sendrecv\r\n"
)


@dataclass(frozen=True)
class Reply:
    code: int
    text: str
    elapsed: float

    def header(self, name: str) -> str | None:
        match = re.search(rf"^{re.escape(name)}:\s*(.*?)\r?$", self.text, re.M | re.I)
        return match.group(1) if match else None


class RawSip:
    """One UDP socket speaking to Kamailio; builds requests and collects replies."""

    def __init__(self, target: str, local_ip: str = "127.0.0.1") -> None:
        self.target = split_hostport(target)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local_ip, 0))
        self.local_ip, self.local_port = self.sock.getsockname()[:2]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawSip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes | str) -> float:
        """Send one datagram; return the monotonic time it left."""
        sent_at = time.monotonic()
        self.sock.sendto(data.encode() if isinstance(data, str) else data, self.target)
        return sent_at

    def replies(
        self, *, timeout: float, sent_at: float | None = None, until_final: bool = True
    ) -> list[Reply]:
        """Collect replies until a final one (or the deadline); elapsed is since sent_at."""
        start = time.monotonic() if sent_at is None else sent_at
        deadline = time.monotonic() + timeout
        got: list[Reply] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                return got
            text = data.decode(errors="replace")
            match = re.match(r"SIP/2\.0 (\d{3}) ", text)
            if match is None:
                continue
            reply = Reply(int(match.group(1)), text, time.monotonic() - start)
            got.append(reply)
            if until_final and reply.code >= 200:
                return got

    def invite(
        self,
        service: str,
        *,
        caller: str = "+8613912345678",
        sdp: bool = True,
        max_forwards: int = 70,
        rtp_port: int = 9,
    ) -> Dialog:
        """Send an INVITE from this socket; return what is needed to ACK it."""
        tag, branch = secrets.token_hex(6), "z9hG4bK" + secrets.token_hex(8)
        call_id = f"raw-{secrets.token_hex(8)}"
        host, port = self.target
        body = SDP.format(ip=self.local_ip, port=rtp_port) if sdp else ""
        lines = [
            f"INVITE sip:{service}@{host}:{port} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local_ip}:{self.local_port};branch={branch};rport",
            f"From: <sip:{caller}@{self.local_ip}>;tag={tag}",
            f"To: <sip:{service}@{host}:{port}>",
            f"Call-ID: {call_id}",
            "CSeq: 1 INVITE",
            f"Contact: <sip:{caller}@{self.local_ip}:{self.local_port}>",
            f"Max-Forwards: {max_forwards}",
        ]
        if sdp:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        sent_at = self.send("\r\n".join(lines) + "\r\n\r\n" + body)
        return Dialog(self, service, caller, tag, branch, call_id, sent_at)


@dataclass
class Dialog:
    raw: RawSip
    service: str
    caller: str
    tag: str
    branch: str
    call_id: str
    sent_at: float

    def final(self, timeout: float = 5.0) -> Reply | None:
        replies = self.raw.replies(timeout=timeout, sent_at=self.sent_at)
        finals = [r for r in replies if r.code >= 200]
        return finals[0] if finals else None

    def ack(self, reply: Reply) -> None:
        """ACK a non-2xx final reply, on the INVITE's branch (RFC 3261 17.1.1.3)."""
        host, port = self.raw.target
        self.raw.send(
            f"ACK sip:{self.service}@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.raw.local_ip}:{self.raw.local_port};branch={self.branch};"
            "rport\r\n"
            f"From: <sip:{self.caller}@{self.raw.local_ip}>;tag={self.tag}\r\n"
            f"To: {reply.header('To')}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            "CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )


def register_agent(
    stack: Stack,
    user: str,
    contact_port: int,
    *,
    workdir: Path,
    password: str | None = None,
    expires: int = 300,
    local_ip: str = "127.0.0.1",
) -> SippRun:
    """One REGISTER through sipp, with the stack's realm; returns the finished run."""
    return registration(
        stack.sip,
        user,
        stack.passwords[user] if password is None else password,
        stack.realm,
        contact_port,
        workdir=workdir,
        expires=expires,
        local_ip=local_ip,
    )


def start_phone(
    stack: Stack,
    user: str,
    *,
    workdir: Path,
    scenario: str = "agent_answer",
    calls: int = 1,
    answer_after_ms: int = 100,
    rtp_port: int | None = None,
    local_ip: str = "127.0.0.1",
) -> AgentPhone:
    """An answering, registered phone for `user` on this stack."""
    return start_agent_phone(
        stack.sip,
        user,
        stack.passwords[user],
        stack.realm,
        workdir=workdir,
        scenario=scenario,
        calls=calls,
        answer_after_ms=answer_after_ms,
        rtp_port=rtp_port,
        local_ip=local_ip,
    )


def options_rtt(target: str, timeout: float = 2.0) -> tuple[int | None, float]:
    """One OPTIONS ping: (status code or None, seconds until the reply)."""
    start = time.monotonic()
    code = sip_options_ping(target, timeout=timeout)
    return code, time.monotonic() - start


def unregister_all(stack: Stack, agents: tuple[str, ...] = AGENTS) -> None:
    """Drop every agent's registration (kamcmd ul.rm), so no test inherits a stale Contact."""
    kamcmd = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
    for agent in agents:
        # An AOR that is not registered answers with an error: that is fine here.
        # "s:" keeps kamcmd from sending the numeric AOR as an integer.
        subprocess.run(
            [kamcmd, "-s", f"unix:{stack.layout.kamailio_ctl}", "ul.rm", "location", f"s:{agent}"],
            capture_output=True,
            timeout=10,
            check=False,
        )


def registered(stack: Stack, agent: str) -> bool:
    kamcmd = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
    out = subprocess.run(
        [kamcmd, "-s", f"unix:{stack.layout.kamailio_ctl}", "ul.lookup", "location", f"s:{agent}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if out.returncode != 0 or out.stdout.startswith("error:"):
        if "AOR not found" in out.stdout or "AOR has no contacts" in out.stdout:
            return False
        raise AssertionError(f"kamcmd ul.lookup {agent} failed: {out.stdout}{out.stderr}")
    return "Address:" in out.stdout


def final_code(run: SippRun, timeout: float = 15.0) -> int:
    """The code a refused-call scenario logged (FINAL <code>)."""
    (line,) = run.wait_for_log("FINAL ", timeout=timeout)
    return int(line.split()[1])


def log_value(line: str, key: str) -> str:
    match = re.search(rf"\b{re.escape(key)}=(\S+)", line)
    assert match, f"no {key}= in {line!r}"
    return match.group(1)


def no_rtpengine_session(stack: Stack, index: int = 0, timeout: float = 5.0) -> None:
    wait_until(
        lambda: not stack.rtpengine_calls(index),
        timeout=timeout,
        what="rtpengine has no session left",
    )
