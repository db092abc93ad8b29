"""A typed client for acd.v1 that fails over between replicas.

Retries UNAVAILABLE and DEADLINE_EXCEEDED on the next replica until `retry_for`
runs out. A retried command may already have been carried out (its reply was
lost with a dying replica), so callers see, for example, CALL_EXISTS on a
retried Enqueue (also once the call has ended: "already ended") or UNKNOWN_CALL
on a retried Hangup; `Reply.retried` tells them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.message import Message

from acd_api.v1 import acd_pb2 as pb
from acd_api.v1 import acd_pb2_grpc

from ._token import service_channel

__all__ = ["LAST_COMMIT_HEADER", "RETRYABLE", "AcdClient", "ActionFeed"]

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Message)
LAST_COMMIT_HEADER = "acd-last-commit"
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# grpc's default reconnect back-off grows to 120 s: a replica that comes back after an
# outage would stay unused for up to two minutes while every call fails fast with
# UNAVAILABLE. Replicas restart in seconds, so retry the connection at most every 2 s.
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # A voicemail message's WAV comes in one reply (GetVoicemailAudio): up to an hour of
    # 8 kHz 16-bit mono, 58 MB, where grpc's default limit is 4 MB (about 4 minutes).
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)


class AcdClient:
    def __init__(
        self,
        addresses: Sequence[str] | str,
        *,
        timeout: float = 2.0,
        retry_for: float = 15.0,
        token: str | None = None,
    ) -> None:
        """`token`: the stack's service token (`read_token`), which the call
        methods need; agents' and supervisors' own methods work without it."""
        self.addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        if not self.addresses:
            raise ValueError("need at least one replica address")
        self.timeout = timeout
        self.retry_for = retry_for
        self._channels = [service_channel(a, token, CHANNEL_OPTIONS) for a in self.addresses]
        self._stubs: list[Any] = [acd_pb2_grpc.AcdServiceStub(c) for c in self._channels]
        self._current = 0
        self._lock = threading.Lock()
        self.retries = 0  # how many calls were retried (a counter for tests and benchmarks)

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def __enter__(self) -> AcdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stub(self) -> Any:
        """The generated stub of the replica in use (no failover)."""
        return self._stubs[self._current]

    def rotate(self, failed: int) -> None:
        with self._lock:
            if self._current == failed:
                self._current = (failed + 1) % len(self._stubs)

    def call(
        self,
        method: str,
        request: Message,
        reply_type: type[M],
        *,
        retry_for: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> M:
        """One RPC, retried on the next replica while UNAVAILABLE/DEADLINE_EXCEEDED.

        `retry_for` overrides the client's retry window for this call (0: one
        attempt; each attempt has the client's `timeout`); `cancelled` is asked
        before every retry and stops them (the caller no longer needs the
        answer): the last error is raised.
        """
        deadline = time.monotonic() + (self.retry_for if retry_for is None else retry_for)
        attempt = 0
        while True:
            index = self._current
            try:
                reply = getattr(self._stubs[index], method)(request, timeout=self.timeout)
                return cast(M, reply)
            except grpc.RpcError as exc:
                if (
                    exc.code() not in RETRYABLE
                    or time.monotonic() > deadline
                    or (cancelled is not None and cancelled())
                ):
                    raise
                attempt += 1
                self.retries += 1
                self.rotate(index)
                time.sleep(min(0.02 * attempt, 0.3))  # back-off between retries

    # One typed method per RPC.
    def login(self, r: pb.LoginRequest) -> pb.LoginResponse:
        return self.call("Login", r, pb.LoginResponse)

    def logout(self, r: pb.LogoutRequest) -> pb.LogoutResponse:
        return self.call("Logout", r, pb.LogoutResponse)

    def heartbeat(self, r: pb.HeartbeatRequest) -> pb.HeartbeatResponse:
        return self.call("Heartbeat", r, pb.HeartbeatResponse)

    def set_busy(self, r: pb.SetBusyRequest) -> pb.SetBusyResponse:
        return self.call("SetBusy", r, pb.SetBusyResponse)

    def set_idle(self, r: pb.SetIdleRequest) -> pb.SetIdleResponse:
        return self.call("SetIdle", r, pb.SetIdleResponse)

    def force_logout(self, r: pb.ForceLogoutRequest) -> pb.ForceLogoutResponse:
        return self.call("ForceLogout", r, pb.ForceLogoutResponse)

    def force_busy(self, r: pb.ForceBusyRequest) -> pb.ForceBusyResponse:
        return self.call("ForceBusy", r, pb.ForceBusyResponse)

    def force_idle(self, r: pb.ForceIdleRequest) -> pb.ForceIdleResponse:
        return self.call("ForceIdle", r, pb.ForceIdleResponse)

    def intercept(self, r: pb.InterceptRequest) -> pb.InterceptResponse:
        return self.call("Intercept", r, pb.InterceptResponse)

    def set_phone_presence(self, r: pb.SetPhonePresenceRequest) -> pb.SetPhonePresenceResponse:
        return self.call("SetPhonePresence", r, pb.SetPhonePresenceResponse)

    # Recording, "play this message twice", voicemail (docs/recording.md): the agent's
    # desk session or an Actor in the request, like the agent and supervisor commands.
    def play_message(self, r: pb.PlayMessageRequest) -> pb.PlayMessageResponse:
        return self.call("PlayMessage", r, pb.PlayMessageResponse)

    def control_recording(self, r: pb.ControlRecordingRequest) -> pb.ControlRecordingResponse:
        return self.call("ControlRecording", r, pb.ControlRecordingResponse)

    def list_voicemail(self, r: pb.ListVoicemailRequest) -> pb.ListVoicemailResponse:
        return self.call("ListVoicemail", r, pb.ListVoicemailResponse)

    def get_voicemail_audio(self, r: pb.GetVoicemailAudioRequest) -> pb.GetVoicemailAudioResponse:
        return self.call("GetVoicemailAudio", r, pb.GetVoicemailAudioResponse)

    def mark_voicemail_heard(
        self, r: pb.MarkVoicemailHeardRequest
    ) -> pb.MarkVoicemailHeardResponse:
        return self.call("MarkVoicemailHeard", r, pb.MarkVoicemailHeardResponse)

    def delete_voicemail(self, r: pb.DeleteVoicemailRequest) -> pb.DeleteVoicemailResponse:
        return self.call("DeleteVoicemail", r, pb.DeleteVoicemailResponse)

    def enqueue(self, r: pb.EnqueueRequest) -> pb.EnqueueResponse:
        return self.call("Enqueue", r, pb.EnqueueResponse)

    def answered(self, r: pb.AnsweredRequest) -> pb.AnsweredResponse:
        return self.call("Answered", r, pb.AnsweredResponse)

    def no_answer(self, r: pb.NoAnswerRequest) -> pb.NoAnswerResponse:
        return self.call("NoAnswer", r, pb.NoAnswerResponse)

    def hangup(self, r: pb.HangupRequest) -> pb.HangupResponse:
        return self.call("Hangup", r, pb.HangupResponse)

    def abandon(self, r: pb.AbandonRequest) -> pb.AbandonResponse:
        return self.call("Abandon", r, pb.AbandonResponse)

    def transfer_to_queue(self, r: pb.TransferToQueueRequest) -> pb.TransferToQueueResponse:
        return self.call("TransferToQueue", r, pb.TransferToQueueResponse)

    def transfer_to_agent(self, r: pb.TransferToAgentRequest) -> pb.TransferToAgentResponse:
        return self.call("TransferToAgent", r, pb.TransferToAgentResponse)

    def reserve_for_internal_call(
        self, r: pb.ReserveForInternalCallRequest
    ) -> pb.ReserveForInternalCallResponse:
        return self.call("ReserveForInternalCall", r, pb.ReserveForInternalCallResponse)

    def reconcile(self, r: pb.ReconcileRequest) -> pb.ReconcileResponse:
        return self.call("Reconcile", r, pb.ReconcileResponse)

    def get_call_position(self, r: pb.GetCallPositionRequest) -> pb.GetCallPositionResponse:
        return self.call("GetCallPosition", r, pb.GetCallPositionResponse)

    def report_recording(
        self, call_id: str, state: pb.RecordingState, ref: str
    ) -> pb.ReportRecordingResponse:
        """A controller tells the ACD the recording state it set by itself (always-on,
        a sensitive IVR node, a failure), so that ControlRecording checks against it."""
        return self.call(
            "ReportRecording",
            pb.ReportRecordingRequest(call_id=call_id, state=state, ref=ref),
            pb.ReportRecordingResponse,
        )

    # Supervisor monitoring (docs/monitoring.md). Monitor, SwitchMonitor and StopMonitor
    # carry the supervisor's own Actor, like Intercept; ReportMonitor is the
    # controllers' (it needs the service token).
    def monitor(self, r: pb.MonitorRequest) -> pb.MonitorResponse:
        """Start listening to, whispering to or barging in on an agent's answered call:
        the reply has the new session's ID and the MonitorCall sent to the call's
        controller, which rings the supervisor."""
        return self.call("Monitor", r, pb.MonitorResponse)

    def switch_monitor(self, r: pb.SwitchMonitorRequest) -> pb.SwitchMonitorResponse:
        """Change a live session's mode (LISTEN, WHISPER, BARGE), or INTERCEPT."""
        return self.call("SwitchMonitor", r, pb.SwitchMonitorResponse)

    def stop_monitor(self, r: pb.StopMonitorRequest) -> pb.StopMonitorResponse:
        """End a session: the supervisor's leg is hung up, caller and agent talk on."""
        return self.call("StopMonitor", r, pb.StopMonitorResponse)

    def report_monitor(
        self,
        session_id: str,
        state: pb.MonitorState,
        *,
        mode: pb.MonitorMode = pb.MONITOR_MODE_UNSPECIFIED,
        call_id: str = "",
        agent: str = "",
        reason: str = "",
    ) -> pb.ReportMonitorResponse:
        """A controller tells the ACD what became of a session: ACTIVE (answered, or a
        keypad switch: `mode`; a transfer: the `call_id` and `agent` it is on now) or
        ENDED (`reason`, one of eventlog.MONITOR_STOP_REASONS). ENDED for a session the
        ACD no longer has is accepted (idempotent); ACTIVE for one is refused with
        UNKNOWN_MONITOR_SESSION: the controller then hangs the supervisor up."""
        return self.call(
            "ReportMonitor",
            pb.ReportMonitorRequest(
                session_id=session_id,
                state=state,
                mode=mode,
                call_id=call_id,
                agent=agent,
                reason=reason,
            ),
            pb.ReportMonitorResponse,
        )

    def get_snapshot(self) -> pb.Snapshot:
        return self.call("GetSnapshot", pb.GetSnapshotRequest(), pb.GetSnapshotResponse).snapshot

    def watch_snapshot(self, max_interval: float = 2.0) -> Iterator[pb.WatchSnapshotResponse]:
        """The raw stream from the replica in use; `.cancel()` it when done."""
        stream: Iterator[pb.WatchSnapshotResponse] = self.stub.WatchSnapshot(
            pb.WatchSnapshotRequest(max_interval_seconds=max_interval)
        )
        return stream

    def actions(
        self, on_action: Callable[[pb.Action], None], *, employee_id: int = 0
    ) -> ActionFeed:
        return ActionFeed(self, on_action, employee_id=employee_id).start()


class ActionFeed:
    """Delivers WatchActions to a callback on its own thread; reconnects to any replica
    and resumes after the last commit it saw, so no action is missed or repeated.

    While no replica answers it retries with a back-off (0.1 s doubling to
    `max_backoff`), logging the outage once and the recovery once. Before its first
    subscription an unreachable ACD is expected (`callcenter up` starts the
    controllers before the ACD): that is logged at INFO, and at WARNING only once
    `startup_grace_s` has passed without one. A stream lost after it was up is a
    WARNING at once.
    """

    def __init__(
        self,
        client: AcdClient,
        on_action: Callable[[pb.Action], None],
        *,
        employee_id: int = 0,
        max_backoff: float = 2.0,
        startup_grace_s: float = 30.0,
    ) -> None:
        self._client = client
        self._on_action = on_action
        self._employee_id = employee_id
        self._max_backoff = max_backoff
        self._startup_grace_s = startup_grace_s
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._call: Any = None
        self.last_commit = ""
        self.reconnects = 0
        self._thread = threading.Thread(target=self._run, name="acd-actions", daemon=True)

    @property
    def subscribed(self) -> bool:
        """A stream is open now (False while the ACD is unreachable)."""
        return self._subscribed.is_set()

    def start(self, timeout: float | None = 10.0) -> ActionFeed:
        """Start the thread; wait up to `timeout` for the first subscription
        (TimeoutError), or not at all with None (it keeps trying in the background)."""
        self._thread.start()
        if timeout is not None and not self._subscribed.wait(timeout):
            raise TimeoutError("WatchActions did not connect")
        return self

    def close(self) -> None:
        self._stop.set()
        call = self._call
        if call is not None:
            call.cancel()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.0
        health = _FeedHealth(time.monotonic(), self._startup_grace_s)
        while not self._stop.is_set():
            index = self._client._current
            request = pb.WatchActionsRequest(
                after_commit=self.last_commit, employee_id=self._employee_id
            )
            error = ""
            try:
                self._call = self._client._stubs[index].WatchActions(request)
                # The server sends headers once it has subscribed, naming the newest commit:
                # the resume point if this stream breaks before any action arrives.
                headers = dict(self._call.initial_metadata() or ())
                if LAST_COMMIT_HEADER not in headers:
                    raise ConnectionError("WatchActions ended before subscribing")
                if not self.last_commit:
                    self.last_commit = str(headers[LAST_COMMIT_HEADER])
                self._subscribed.set()
                backoff = 0.0
                health.up(self._client.addresses[index], self.last_commit)
                for reply in self._call:
                    self.last_commit = reply.action.commit_id
                    self._on_action(reply.action)
            except (grpc.RpcError, ConnectionError) as exc:
                if self._stop.is_set():
                    return
                error = str(exc.code()) if isinstance(exc, grpc.RpcError) else str(exc)
            except Exception:
                log.exception("action handler failed")
            self._subscribed.clear()
            if self._stop.is_set():
                return
            health.down(self._client.addresses[index], error or "stream ended")
            self.reconnects += 1
            self._client.rotate(index)
            backoff = min(self._max_backoff, backoff * 2 or 0.1)
            self._stop.wait(backoff)


class _FeedHealth:
    """What an ActionFeed logs about its stream, and at which level (see ActionFeed)."""

    def __init__(self, started: float, startup_grace_s: float) -> None:
        self._started = started
        self._startup_grace_s = startup_grace_s
        self._down_since: float | None = None
        self._was_up = False
        self._late_warned = False

    def up(self, address: str, last_commit: str) -> None:
        if self._was_up and self._down_since is not None:
            log.warning(
                "WatchActions resumed on %s after %.1f s (after commit %s)",
                address,
                time.monotonic() - self._down_since,
                last_commit,
            )
        else:
            log.info("WatchActions subscribed on %s (after commit %s)", address, last_commit)
        self._down_since, self._was_up = None, True

    def down(self, address: str, why: str) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            if self._was_up:
                log.warning("WatchActions on %s lost (%s); reconnecting", address, why)
            else:
                log.info("WatchActions: no ACD on %s yet (%s); retrying", address, why)
        elif (
            not self._was_up
            and not self._late_warned
            and now - self._started >= self._startup_grace_s
        ):
            self._late_warned = True
            log.warning(
                "WatchActions: still no ACD on %s after %.0f s (%s); retrying",
                address,
                now - self._started,
                why,
            )
