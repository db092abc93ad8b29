"""Re-capture the ul.dump fixtures from a real Kamailio.

    python -m tests.presence.capture_ul_dump

Starts the test stack (keepalive every 20 s), registers 1001 (a phone that answers the
keepalive) and, once 1001 has a keepalive round trip, 1002 (Expires 10); saves what
`ul.dump` returns while 1002's contact is expired but not yet removed (usrloc removes
it at its next timer run). Also saves the dump of an empty location table.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from presence import KamailioRpc
from presence._kamailio import rpc_fifo
from testbed import OptionsResponder, base_config, register_agent, running_stack, wait_until

HERE = Path(__file__).resolve().parent


def _contacts(result: Any) -> dict[str, dict[str, Any]]:
    aors = result["Domains"][0]["Domain"]["AoRs"]
    return {a["Info"]["AoR"]: a["Info"]["Contacts"][0]["Contact"] for a in aors}


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="uldump-"))
    config, passwords = base_config(workdir)
    config["sip"].update(phone_keepalive_s=20, phone_keepalive_timeout_s=60)
    live, short = OptionsResponder(), OptionsResponder()
    try:
        with running_stack(workdir, config, passwords) as stack:
            rpc = KamailioRpc(rpc_fifo(stack.layout))
            (HERE / "ul_dump_empty.json").write_text(
                json.dumps(rpc.call("ul.dump"), indent=1) + "\n"
            )
            register_agent(stack, "1001", live.port, workdir=workdir / "sipp")
            # A round trip appears at a usrloc timer run; register 1002 right after one,
            # so it expires (10 s) well before the next run (20 s) removes it.
            wait_until(
                lambda: _contacts(rpc.call("ul.dump"))["1001"]["KA-Roundtrip"] > 0,
                timeout=45,
                interval=0.2,
                what="a keepalive round trip for 1001",
            )
            register_agent(stack, "1002", short.port, workdir=workdir / "sipp", expires=10)
            captured: dict[str, Any] = {}

            def expired() -> bool:
                captured["result"] = rpc.call("ul.dump")
                return bool(_contacts(captured["result"])["1002"]["Expires"] == "expired")

            wait_until(expired, timeout=15, interval=0.2, what="1002's contact expired")
            (HERE / "ul_dump.json").write_text(json.dumps(captured["result"], indent=1) + "\n")
    finally:
        live.stop()
        short.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
