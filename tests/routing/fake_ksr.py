"""A recording fake of Kamailio's KSR module, generated from the installed Kamailio.

The function list comes from `kamcmd app_python.api_list` on a Kamailio started
with our own config, so a misspelt `KSR.x.y` or a wrong argument count fails a
unit test instead of a call in production.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import callcenter
import configuration
from callcenter._secrets import write_secrets
from simulators import free_port
from testbed import base_config, wait_until


@dataclass(frozen=True)
class KsrFunction:
    module: str  # "" for the core functions (KSR.info, KSR.is_CANCEL, ...)
    name: str
    params: tuple[str, ...]  # "str" / "int" per argument; () for none


def parse_api_list(text: str) -> list[KsrFunction]:
    functions = []
    for block in re.findall(r"func: \{(.*?)\}", text, flags=re.S):
        fields = dict(re.findall(r"^\s*(\w+):[ \t]*(.*?)\s*$", block, flags=re.M))
        params = tuple(p.strip() for p in fields.get("params", "").split(",") if p.strip())
        functions.append(
            KsrFunction(
                fields.get("module", ""), fields["name"], () if params == ("none",) else params
            )
        )
    return functions


def dump_api_from_kamailio(workdir: Path) -> list[KsrFunction]:
    """Start Kamailio alone with our rendered config and ask it for its KEMI API."""
    config, _ = base_config(workdir)
    config["redis"] = {"listen": "127.0.0.1:1", "managed": False}
    config["rtpengine"]["nodes"][0]["managed"] = False
    config["rtpengine"]["nodes"][0]["ng"] = f"127.0.0.1:{free_port()}"
    # With WSS, so the functions of tls, websocket, xhttp and nathelper are listed too.
    config["sip"]["wss_listen"] = f"127.0.0.1:{free_port()}"
    config["tls"] = {"cert": "tls/server.crt", "key": "tls/server.key"}
    path = workdir / "callcenter.yaml"
    path.write_text(yaml.safe_dump(config))
    parsed = configuration.load_config(path)
    write_secrets(parsed, workdir)
    layout = callcenter.layout_for(parsed, workdir)
    callcenter.up(parsed, layout)
    try:
        wait_until(layout.kamailio_ctl.exists, timeout=10, what="kamailio ctl socket")
        text = subprocess.run(
            ["kamcmd", "-s", f"unix:{layout.kamailio_ctl}", "app_python.api_list"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    finally:
        callcenter.down(layout)
    (workdir / "ksr_api.txt").write_text(text)
    functions = parse_api_list(text)
    assert len(functions) > 100, f"api_list looks wrong:\n{text[:500]}"
    return functions


# kx accessors read the same message fields as these pseudo-variables.
KX_FIELDS = {
    "method": "$rm",
    "srcip": "$si",
    "srcport": "$sp",
    "ruser": "$rU",
    "fuser": "$fU",
    "tuser": "$tU",
    "callid": "$ci",
    "au": "$au",
    "fhost": "$fd",
    "ruri": "$ru",
    "status": "$rs",
}


@dataclass
class FakeKsr:
    """Records every KSR call; return values come from `returns` or a default of 1."""

    api: list[KsrFunction]
    pvs: dict[str, Any] = field(default_factory=dict)
    returns: dict[str, Any] = field(default_factory=dict)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def build_module(self) -> types.ModuleType:
        module = types.ModuleType("KSR")
        namespaces: dict[str, types.SimpleNamespace] = {}
        for fn in self.api:
            target: Any = module
            if fn.module:
                target = namespaces.setdefault(fn.module, types.SimpleNamespace())
                setattr(module, fn.module, target)
            setattr(target, fn.name, self._recorder(fn))
        return module

    def _recorder(self, fn: KsrFunction) -> Callable[..., Any]:
        qualified = f"{fn.module}.{fn.name}" if fn.module else fn.name

        def call(*args: Any) -> Any:
            if len(args) != len(fn.params):
                raise TypeError(f"KSR.{qualified} takes {len(fn.params)} args, got {len(args)}")
            for arg, kind in zip(args, fn.params, strict=True):
                if kind == "int" and not isinstance(arg, int):
                    raise TypeError(f"KSR.{qualified}: {arg!r} is not an int")
                if kind == "str" and not isinstance(arg, str):
                    raise TypeError(f"KSR.{qualified}: {arg!r} is not a str")
            self.calls.append((qualified, args))
            if qualified in ("pv.get", "pv.gete", "pv.getw"):
                return self.pvs.get(args[0])
            if fn.module == "kx" and qualified not in self.returns:
                field = fn.name.split("_", 1)[1]
                if field in KX_FIELDS:
                    value = self.pvs.get(KX_FIELDS[field])
                    return "" if value is None and fn.name.startswith("gete_") else value
            if qualified == "pv.sets":
                self.pvs[args[0]] = args[1]
            value = self.returns.get(qualified, 1)
            return value(*args) if callable(value) else value

        return call

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for qualified, args in self.calls if qualified == name]

    def names(self) -> list[str]:
        return [qualified for qualified, _ in self.calls]


@contextmanager
def installed(fake: FakeKsr) -> Iterator[types.ModuleType]:
    """Make `import KSR` resolve to the fake, and reload the adapter against it."""
    module = fake.build_module()
    saved = sys.modules.get("KSR")
    sys.modules["KSR"] = module
    sys.modules.pop("routing.kemi", None)
    try:
        yield module
    finally:
        sys.modules.pop("routing.kemi", None)
        if saved is not None:
            sys.modules["KSR"] = saved
        else:
            sys.modules.pop("KSR", None)
