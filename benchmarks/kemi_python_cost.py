"""Where the Python time of one benchmark call goes, without Kamailio.

Runs routing.kemi.KemiRouter's routes for one call of benchmarks/call_setup.py
(trunk INVITE, the agent's 200 through the reply route, ACK, BYE) against a stub
KSR whose functions return at once, so the figure is the pure Python cost per
call: the adapter, the routing decision, uuid, json, logging f-strings, plus one
Python-level call per KSR function. It then prints a cProfile of the same loop.

Compare the figure with the Kamailio CPU per call difference between the Python
and the native configs from `call_setup --compare-native`: what is left over is
the cost of app_python3 itself (entering the interpreter, building the msg
object, converting KSR arguments and results).

    .venv/bin/python -m benchmarks.kemi_python_cost [--calls 20000]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
import types
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import configuration
from benchmarks._harness import bench_config


class StubKsr:
    """Just enough of KSR for the benchmark call's path; counts calls per function."""

    def __init__(self) -> None:
        self.pvs: dict[str, Any] = {}
        self.returns: dict[str, Any] = {}
        self.counts: Counter[str] = Counter()
        self.module = types.ModuleType("KSR")
        functions = {
            "": ["info", "notice", "err", "is_CANCEL", "is_ACK"],
            "pv": ["sets"],
            "maxfwd": ["process_maxfwd"],
            "sanity": ["sanity_check"],
            "siputils": ["has_totag"],
            "tmx": ["t_precheck_trans"],
            "tm": [
                "t_check_trans",
                "t_set_fr",
                "t_on_failure",
                "t_on_reply",
                "t_relay",
                "t_is_canceled",
            ],
            "sdpops": ["sdp_content"],
            "registrar": ["lookup", "save"],
            "textops": ["remove_hf_re"],
            "hdr": ["append"],
            "uac": ["uac_replace_from_uri"],
            "rtpengine": ["rtpengine_offer", "rtpengine_answer", "rtpengine_delete0"],
            "dialog": ["dlg_manage"],
            "rr": ["record_route", "loose_route"],
            "sl": ["sl_send_reply", "sl_reply_error"],
        }
        for sub, names in functions.items():
            target = self.module
            if sub:
                target = types.ModuleType(f"KSR.{sub}")
                setattr(self.module, sub, target)
            for name in names:
                setattr(target, name, self._function(f"{sub}.{name}" if sub else name))
        self.module.pv.get = self._pv_get  # type: ignore[attr-defined]
        self.module.pv.sets = self._pv_sets  # type: ignore[attr-defined]

    def _function(self, key: str) -> Any:
        returns, counts = self.returns, self.counts

        def call(*args: Any) -> Any:
            counts[key] += 1
            return returns.get(key, 1)

        return call

    def _pv_get(self, name: str) -> Any:
        self.counts["pv.get"] += 1
        return self.pvs.get(name)

    def _pv_sets(self, name: str, value: str) -> None:
        self.counts["pv.sets"] += 1
        self.pvs[name] = value


INVITE = {
    "$rm": "INVITE",
    "$si": "127.0.0.1",
    "$sp": 5070,
    "$rU": "+8695598",
    "$fU": "+8613912345678",
    "$tU": "+8695598",
    "$ci": "1-1@127.0.0.1",
    "$fd": "127.0.0.1",
    "$au": None,
    "$ru": "sip:1001@127.0.0.1:5080",
}
INITIAL = {
    "siputils.has_totag": -1,
    "tmx.t_precheck_trans": -1,
    "tm.t_check_trans": -1,
    "is_CANCEL": False,
    "is_ACK": False,
}
IN_DIALOG = {"siputils.has_totag": 1, "is_CANCEL": False}


def one_call(router: Any, ksr: StubKsr) -> None:
    ksr.pvs.update(INVITE)
    ksr.returns.update(INITIAL)
    router.ksr_request_route(None)
    ksr.pvs["$rs"] = 200
    router.ksr_reply_media(None)
    ksr.returns.update(IN_DIALOG)
    ksr.pvs["$rm"] = "ACK"
    router.ksr_request_route(None)
    ksr.pvs["$rm"] = "BYE"
    router.ksr_request_route(None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--quick", action="store_true", help="2,000 calls")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls = 2000
    ksr = StubKsr()
    sys.modules["KSR"] = ksr.module
    from routing.kemi import build_router  # noqa: PLC0415 (after the stub KSR is installed)

    with tempfile.TemporaryDirectory() as tmp:
        config, _ = bench_config(Path(tmp), workers=4, port_min=20000, port_max=29999)
        runtime = Path(tmp) / "runtime.json"
        # What `callcenter up` writes: the validated model's dump, defaults filled in.
        runtime.write_text(
            json.dumps(
                configuration.CallCenterConfig.model_validate(config).model_dump(mode="json")
            )
        )
        router = build_router(str(runtime))
    for _ in range(200):  # warm up
        one_call(router, ksr)
    ksr.counts.clear()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.calls):
        one_call(router, ksr)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    per_call = {k: v / args.calls for k, v in ksr.counts.items()}
    print(
        f"pure Python per benchmark call (INVITE + 200 reply route + ACK + BYE), "
        f"stub KSR: {cpu * 1e6 / args.calls:.1f} us CPU ({wall * 1e6 / args.calls:.1f} us "
        f"wall) over {args.calls} calls"
    )
    print(
        f"KSR calls per call: {sum(per_call.values()):.0f} "
        f"({', '.join(f'{k} {v:.0f}' for k, v in sorted(per_call.items()))})"
    )
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(min(args.calls, 5000)):
        one_call(router, ksr)
    profile.disable()
    print("\ncProfile, top 18 by own time:")
    pstats.Stats(profile).strip_dirs().sort_stats("tottime").print_stats(18)
    return 0


if __name__ == "__main__":
    sys.exit(main())
