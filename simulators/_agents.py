"""Simulated agent phones: register with digest auth, then answer calls with sipp."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulators._ports import free_port
from simulators._sipp import SippRun, start_sipp


class RegistrationError(Exception):
    pass


def registration(
    target: str,
    user: str,
    password: str,
    realm: str,
    contact_port: int,
    *,
    workdir: Path,
    expires: int = 300,
    local_ip: str = "127.0.0.1",
) -> SippRun:
    """REGISTER `user` with its Contact at contact_port; return the finished sipp run.

    No -mp: a REGISTER carries no media, and sipp would also bind -mp + 2 (video)
    without retrying, which fails when that neighbouring port is taken.
    """
    run = start_sipp(
        f"register-{user}-{contact_port}-{expires}",
        "agent_register",
        target,
        workdir=workdir,
        local_ip=local_ip,
        port=free_port(local_ip),
        keys={"user": user, "realm": realm, "contact_port": contact_port, "expires": expires},
        auth=(user, password),
        timeout_s=10,
    )
    run.wait(timeout=15)
    return run


def register(
    target: str,
    user: str,
    password: str,
    realm: str,
    contact_port: int,
    *,
    workdir: Path,
    expires: int = 300,
    local_ip: str = "127.0.0.1",
) -> None:
    """REGISTER `user`; raise RegistrationError unless it got 200."""
    run = registration(
        target,
        user,
        password,
        realm,
        contact_port,
        workdir=workdir,
        expires=expires,
        local_ip=local_ip,
    )
    if run.process.returncode != 0 or not any(
        line.startswith("REGISTERED") for line in run.log_lines()
    ):
        raise RegistrationError(
            f"{user} did not register (sipp exit {run.process.returncode}): {run.errors()}"
        )


@dataclass
class AgentPhone:
    """One agent's phone: a sipp UAS that answers, plus where its media should go."""

    user: str
    sip_port: int
    rtp_port: int
    run: SippRun


def start_agent_phone(
    target: str,
    user: str,
    password: str,
    realm: str,
    *,
    workdir: Path,
    scenario: str = "agent_answer",
    calls: int = 1,
    answer_after_ms: int = 100,
    rtp_port: int | None = None,
    local_ip: str = "127.0.0.1",
    register_phone: bool = True,
    keys: dict[str, str | int] | None = None,
) -> AgentPhone:
    """Start the answering sipp first, then register its address, so no call is missed."""
    sip_port = free_port(local_ip)
    rtp_port = rtp_port or free_port(local_ip)
    run = start_sipp(
        f"agent-{user}-{sip_port}",
        scenario,
        target,
        workdir=workdir,
        local_ip=local_ip,
        port=sip_port,
        calls=calls,
        pause_ms=answer_after_ms,
        keys={"rtp_port": rtp_port, **(keys or {})},
    )
    if register_phone:
        try:
            register(target, user, password, realm, sip_port, workdir=workdir, local_ip=local_ip)
        except RegistrationError:
            run.stop()
            raise
    return AgentPhone(user, sip_port, rtp_port, run)
