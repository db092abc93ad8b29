"""The mixer: an RTP conference bridge for supervisor monitoring (docs/monitoring.md).

rtpengine 10.5 cannot mix audio, so listen, whisper and barge put a monitored call's
media through a mixer replica: one port per party (caller, agent, each supervisor),
G.711 decoded, summed per listener by who-hears-whom, encoded and sent every 20 ms.
It speaks rtpengine's ng dialect (bencode over UDP) on its control port, so the call
controller drives it with the same `rtpengine.NgClient`. Run as `python -m mixer`.

- `mixer_argv`, `managed_mixers`, `mixer_daemon`, `mixer_describe`: how `callcenter up`
  starts the managed nodes (its health probe is an ng `ping`);
- `mixer_name`: a node's name (`name`, or mixer<index>) in logs and events.
"""

from mixer._launch import managed_mixers, mixer_argv, mixer_daemon, mixer_describe
from mixer._settings import mixer_name

__all__ = [
    "managed_mixers",
    "mixer_argv",
    "mixer_daemon",
    "mixer_describe",
    "mixer_name",
]
