"""`callcenter demo`: bring the stack up and send a few carrier calls to simulated agents.

Passwords for the simulated phones are generated fresh on every run and only
their hashes are written (to the config's accounts_file); nothing stores them.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from callcenter import _stack
from callcenter._accounts import account_entry, upsert_accounts
from callcenter._config import ConfigError, load_config, parse_config
from callcenter._health import split_hostport
from rtpengine import NgClient
from simulators import RtpEndpoint, call_with_media, start_agent_phone

# Callers in the formats carriers really send, to show normalisation.
DEMO_CALLERS = ("+8613912345678", "008613800138000", "13700001111", "+861088886666",
                "+8615011112222", "+862161234567")


def run_demo(config_path: Path, *, calls: int) -> int:
    base = parse_config(config_path.read_text(encoding="utf-8"), str(config_path))
    if not base.accounts_file:
        raise ConfigError(f"{config_path}: the demo needs accounts_file to write its accounts")
    agents = sorted({agent for route in base.numbers for agent in route.agents})
    passwords = {agent: secrets.token_urlsafe(12) for agent in agents}
    upsert_accounts(
        config_path.parent / base.accounts_file,
        [account_entry(a, passwords[a], base.sip.realm, ["agent"]) for a in agents],
    )
    config = load_config(config_path)
    layout = _stack.layout_for(config, config_path.parent)
    # New credentials need a fresh Kamailio: it loads accounts at start.
    _stack.down(layout)
    for name in _stack.up(config, layout):
        print(f"started {name}")
    route = config.numbers[0]
    print(f"\nDemo: {calls} carrier calls to {route.number} ({route.category}), "
          f"hunt group {', '.join(route.agents)}\n")
    workdir = Path(tempfile.mkdtemp(prefix="demo-", dir=layout.root))
    agent = route.agents[0]
    agent_rtp = RtpEndpoint()
    ok = 0
    try:
        phone = start_agent_phone(config.sip.listen, agent, passwords[agent], config.sip.realm,
                                  workdir=workdir, calls=calls, answer_after_ms=300,
                                  rtp_port=agent_rtp.port)
        print(f"agent {agent} registered (digest auth), phone on port {phone.sip_port}")
        for i in range(calls):
            caller = DEMO_CALLERS[i % len(DEMO_CALLERS)]
            report = call_with_media(config.sip.listen, phone, agent_rtp, caller=caller,
                                     service=route.number, workdir=workdir, name=f"call{i}",
                                     packets=50, hold_ms=1200)
            seen = report.delivered
            good = (report.carrier_exit == 0
                    and report.agent_received_from_carrier >= report.packets_sent * 0.95
                    and report.carrier_received_from_agent >= report.packets_sent * 0.95)
            ok += good
            print(f"call {i + 1}: {caller:>17} -> agent {agent} sees caller={seen['caller']} "
                  f"category={seen['category']} cid={seen['cid'][:8]}…  RTP "
                  f"{report.agent_received_from_carrier}/{report.packets_sent} to agent, "
                  f"{report.carrier_received_from_agent}/{report.packets_sent} to caller  "
                  f"{'OK' if good else 'FAILED'}")
        phone.run.wait(timeout=15)
    finally:
        agent_rtp.close()
    ng = NgClient(*split_hostport(config.rtpengine.nodes[0].ng))
    try:
        left = ng.list_calls()
    finally:
        ng.close()
    print(f"\n{ok}/{calls} calls answered with audio both ways; "
          f"rtpengine sessions left: {len(left)}")
    print(f"The stack is still running: `callcenter status`, logs in {layout.logs}, "
          "`callcenter down` to stop.")
    return 0 if ok == calls and not left else 1
