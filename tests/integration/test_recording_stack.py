"""`callcenter up` with `recording:`: rtpengine writes pcaps into the run directory's
spool, the managed recorder turns a recorded call into a WAV, `down` stops it."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
import wave
from pathlib import Path

import pytest
import redis

import bizdata
from callcenter import _process
from controller import RtpengineNg
from eventlog import RECORDING_STARTED, RECORDING_STOPPED, Event, EventLog
from simulators import RtpEndpoint, free_port
from testbed import base_config, running_stack, wait_until

pytestmark = pytest.mark.integration

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)


def _port(sdp: str) -> int:
    return int(next(x for x in sdp.splitlines() if x.startswith("m=audio ")).split()[1])


def test_up_records_into_the_spool_and_the_recorder_stores_the_wav(tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    config, passwords = base_config(
        tmp_path,
        acd={"listen": f"127.0.0.1:{free_port()}"},
        presence={"managed": False},
        bizdata={},
        recording={"listen": listen, "missing_after_ms": 1000},
    )
    with running_stack(tmp_path, config, passwords) as stack:
        run = stack.layout.root
        spool = run / "recordings" / "spool"
        with urllib.request.urlopen(f"http://{listen}/healthz", timeout=2) as response:
            health = json.loads(response.read())
        media_node = stack.config.rtpengine.nodes[0].ng
        assert health["ok"] and health["media_nodes"] == [media_node]
        assert (spool / "pcaps").is_dir()  # rtpengine runs with --recording-dir=spool
        host, _, port = media_node.rpartition(":")
        ng = RtpengineNg(host, int(port), timeout=2.0)
        caller, agent = RtpEndpoint(), RtpEndpoint()
        call_id, ref = f"stack-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        redis_host, _, redis_port = stack.config.redis.listen.rpartition(":")
        client = redis.Redis(host=redis_host, port=int(redis_port))
        assert stack.config.acd is not None
        log = EventLog(client, stream=stack.config.acd.events_stream)
        try:
            to_agent = ng.offer(call_id, "caller", None, OFFER.format(port=caller.port))
            to_caller = ng.answer(call_id, "caller", "agent", OFFER.format(port=agent.port))
            started = time.time()
            ng.start_recording(call_id, ref, 0)
            log.append(
                Event.new(
                    RECORDING_STARTED,
                    correlation_id=call_id,
                    node="t",
                    ts=started,
                    ref=ref,
                    name="",
                    reason="always",
                    media_node=media_node,
                    caller="13800000000",
                    agent="1001",
                    queue="",
                    number="95598",
                    caller_port=str(_port(to_caller)),
                )
            )
            caller.send(("127.0.0.1", _port(to_caller)), marker=1, count=25, interval_s=0.02)
            agent.send(("127.0.0.1", _port(to_agent)), marker=2, count=25, interval_s=0.02)
            ng.stop_recording(call_id)
            stopped = time.time()
            log.append(
                Event.new(
                    RECORDING_STOPPED,
                    correlation_id=call_id,
                    node="t",
                    ts=stopped,
                    ref=ref,
                    segments="1",
                )
            )
        finally:
            ng.delete(call_id)
            ng.close()
            caller.close()
            agent.close()
            client.close()
        engine = bizdata.open_engine(bizdata.store_url(stack.config.bizdata, run))
        try:

            def status() -> str | None:
                try:
                    return str(bizdata.get_recording(engine, ref)["status"])
                except bizdata.NotFound:
                    return None

            wait_until(lambda: status() == "stored", timeout=20, what="the WAV is stored")
            row = bizdata.get_recording(engine, ref)
        finally:
            engine.dispose()
        with wave.open(str(run / "recordings" / "wav" / row["file"])) as w:
            assert w.getnchannels() == 2
            assert w.getnframes() == round((stopped - started) * 8000)
        pid = _process.read_pid(stack.layout, "recorder")
        assert pid is not None and _process.is_alive(pid)
    assert not _process.is_alive(pid)  # `down` stopped it
