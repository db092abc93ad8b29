"""The pure routing decisions: trunk check, numbers, registration, internal calls."""

from __future__ import annotations

import pytest

from routing import (
    AnswerOptions,
    Authenticate,
    DeliverToAgents,
    DeliverToController,
    DropAck,
    Register,
    Reject,
    decide_initial,
    decide_unmatched,
)
from tests.routing.tables import TABLE, request


def new_id() -> str:
    return "f" * 32


def test_trunk_call_to_known_number_is_delivered_with_normalised_caller() -> None:
    decision = decide_initial(request(ruri_user="+8695598"), TABLE, new_id)
    assert decision == DeliverToAgents(
        correlation_id="f" * 32,
        trunk="carrier-a",
        caller="13912345678",
        dialled="95598",
        category="billing",
        agents=("1001", "1002"),
        ring_timeout_ms=1500,
    )


def test_trunk_call_to_a_controller_number_goes_to_the_controller() -> None:
    decision = decide_initial(request(ruri_user="+8695599"), TABLE, new_id)
    assert decision == DeliverToController(
        correlation_id="f" * 32,
        trunk="carrier-a",
        caller="13912345678",
        dialled="95599",
        category="outage",
    )


def test_controller_number_without_sdp_offer_is_refused() -> None:
    decision = decide_initial(request(ruri_user="95599", has_sdp=False), TABLE, new_id)
    assert isinstance(decision, Reject) and decision.code == 488


def test_ipv6_trunk_source_is_recognised() -> None:
    assert isinstance(
        decide_initial(request(source_ip="2001:db8::5"), TABLE, new_id), DeliverToAgents
    )


@pytest.mark.parametrize(
    ("ctx", "code"),
    [
        (request(ruri_user="12345"), 404),  # unknown number
        (request(has_sdp=False), 488),  # no offer
        (request(method="MESSAGE"), 405),  # trunk sends a non-call
        (request(method="PUBLISH"), 405),  # not allowed at all
        (request(source_ip="198.51.100.7"), 403),  # unknown source, unknown user
        (request(source_ip="not-an-ip"), 403),
        (request(method="REGISTER", to_user="9999"), 403),  # unknown account
    ],
)
def test_refusals(ctx: object, code: int) -> None:
    decision = decide_initial(ctx, TABLE, new_id)  # type: ignore[arg-type]
    assert isinstance(decision, Reject)
    assert decision.code == code
    assert decision.detail  # every refusal says why, for the log


# RFC 3261 15.1.2 (BYE), 9.2 (CANCEL), 12.2.2 (any in-dialog request): a request naming
# a dialog or transaction we do not have gets 481, whatever its source.
@pytest.mark.parametrize("source", ["192.0.2.10", "198.51.100.7", "192.0.2.10:5070"])
@pytest.mark.parametrize("method", ["BYE", "PRACK", "UPDATE"])
def test_an_in_dialog_method_outside_a_dialog_gets_481_not_405(source: str, method: str) -> None:
    ip, _, port = source.partition(":")
    ctx = request(method=method, source_ip=ip, source_port=int(port or 0))
    decision = decide_initial(ctx, TABLE, new_id)
    assert decision == Reject(481, "Call/Transaction Does Not Exist", f"{method} matches no dialog")


@pytest.mark.parametrize("method", ["BYE", "INVITE", "INFO", "CANCEL"])
def test_a_request_matching_nothing_gets_481(method: str) -> None:
    decision = decide_unmatched(method)
    assert isinstance(decision, Reject) and decision.code == 481
    assert decision.detail == f"{method} matches no " + (
        "transaction" if method == "CANCEL" else "dialog"
    )


@pytest.mark.parametrize("source", ["192.0.2.10", "198.51.100.7"])
def test_an_ack_matching_nothing_is_dropped_never_answered(source: str) -> None:
    """An ACK gets no response (RFC 3261 17): no Reject, which would answer it."""
    expected = DropAck("ACK matches no transaction or dialog")
    assert decide_initial(request(method="ACK", source_ip=source), TABLE, new_id) == expected
    assert decide_unmatched("ACK") == expected


def test_unknown_source_is_logged_with_its_address() -> None:
    decision = decide_initial(request(source_ip="198.51.100.7"), TABLE, new_id)
    assert isinstance(decision, Reject) and "198.51.100.7" in decision.detail


def test_options_to_the_proxy_is_a_health_check() -> None:
    assert decide_initial(request(method="OPTIONS", ruri_user=""), TABLE, new_id) == AnswerOptions()


def test_register_carries_the_accounts_ha1() -> None:
    decision = decide_initial(request(method="REGISTER", to_user="1001"), TABLE, new_id)
    assert decision == Register("1001", "a" * 32)


def test_register_for_someone_else_is_refused() -> None:
    decision = decide_initial(
        request(method="REGISTER", to_user="1001", auth_user="1002"), TABLE, new_id
    )
    assert isinstance(decision, Reject) and decision.code == 403


def test_agent_call_must_authenticate_first() -> None:
    ctx = request(source_ip="198.51.100.7", from_user="1001", ruri_user="1002")
    assert decide_initial(ctx, TABLE, new_id) == Authenticate("1001", "a" * 32)


def test_authenticated_agent_calls_another_agent() -> None:
    ctx = request(source_ip="198.51.100.7", from_user="1001", ruri_user="1002")
    decision = decide_initial(ctx, TABLE, new_id, authenticated_user="1001")
    assert isinstance(decision, DeliverToAgents)
    assert decision.agents == ("1002",) and decision.category == "internal"


def test_authenticated_agent_posing_as_another_is_refused() -> None:
    ctx = request(source_ip="198.51.100.7", from_user="1001", ruri_user="1002")
    decision = decide_initial(ctx, TABLE, new_id, authenticated_user="1002")
    assert isinstance(decision, Reject) and decision.code == 403


def test_agent_dialling_unknown_number_gets_404() -> None:
    ctx = request(source_ip="198.51.100.7", from_user="1001", ruri_user="777")
    decision = decide_initial(ctx, TABLE, new_id, authenticated_user="1001")
    assert isinstance(decision, Reject) and decision.code == 404
