"""The IVR flows a replica runs, reloaded without a restart.

Every `*.yaml` file of the flows directory (`--ivr-flows`) is one flow. A thread
looks at the directory at most once a second: a file whose inode, mtime or size
changed (`configuration.FileWatch`) is loaded again, a new file is loaded, a removed
one drops its flow. A valid flow replaces the old one for the calls that arrive from
then on; a call already in a flow keeps the `Flow` it started with (the host holds
it). A flow that does not load is refused: the error (file:line and node) is logged at
ERROR and kept for the `ivr` command, and the old flow of that file stays. So does a
flow a number still needs when its file is removed, and a flow whose name another
file already has.

The mapping the host reads (`flows`) is replaced in one assignment, so the loop never
sees half a reload.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configuration import FileWatch
from controller._ivr_ports import FlowEntry

__all__ = ["FlowLibrary", "FlowLoadError", "LoadFile"]

log = logging.getLogger("controller.ivr")

# One flow file in, its entry out; raises with a message naming file:line and node.
LoadFile = Callable[[Path], FlowEntry]
PATTERNS = ("*.yaml",)  # as `ivr.load_flows` and `callcenter check-config` read them


class FlowLoadError(Exception):
    """The flows directory cannot be used at start; str() lists every problem."""


@dataclass(eq=False)
class _File:
    watch: FileWatch
    entry: FlowEntry | None = None  # the flow in use from this file (None: none valid yet)
    gone: bool = False  # removed, and its removal already handled


class FlowLibrary:
    def __init__(
        self,
        directory: Path,
        load_file: LoadFile,
        *,
        required: Mapping[str, str] | None = None,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_loaded: Callable[[FlowEntry], None] | None = None,
    ) -> None:
        """`required`: flow name -> who needs it (e.g. "number 95598"), so a reload
        never takes away a flow a number names. `on_loaded(entry)`: after a reload took
        a flow, on the thread that reloaded it (its prompts are rendered ahead)."""
        self.directory = directory
        self._load_file = load_file
        self.required = dict(required or {})
        self._every_s = every_s
        self._clock = clock
        self._on_loaded = on_loaded
        self._files: dict[Path, _File] = {}
        self._flows: Mapping[str, FlowEntry] = {}
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.reloads = 0
        self.refused = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one check at a time (the thread, a test, a command)

    @property
    def flows(self) -> Mapping[str, FlowEntry]:
        return self._flows

    # ------------------------------------------------------------ start

    def load(self) -> FlowLibrary:
        """The first load: every file must be valid and every required flow there."""
        if not self.directory.is_dir():
            raise FlowLoadError(f"{self.directory}: the IVR flows directory does not exist")
        problems = self._check()
        missing = sorted(set(self.required) - set(self._flows))
        problems += [
            f"{self.directory}: no flow {name!r} ({self.required[name]} needs it)"
            for name in missing
        ]
        if problems:
            raise FlowLoadError("\n".join(problems))
        log.info(
            "IVR flows from %s: %s",
            self.directory,
            ", ".join(f"{e.name} ({e.version})" for e in self._flows.values()) or "none",
        )
        return self

    def start(self) -> FlowLibrary:
        """Watch the directory from a thread of its own."""
        self._thread = threading.Thread(target=self._watch, name="ivr-flows", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _watch(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self.check()
            except Exception:  # keep watching: the next change may be fine
                log.exception("IVR flows: reload failed")

    # ------------------------------------------------------------ reload

    def check(self) -> bool:
        """Look at the directory now; True if the flows in use changed."""
        before = self._flows
        problems = self._check()
        for problem in problems:
            self.refused += 1
            self.last_error, self.last_error_at = problem, self._clock()
            log.error("IVR flow refused, the old one stays: %s", problem)
        if self._flows is not before:
            self.reloads += 1
            log.info(
                "IVR flows reloaded: %s",
                ", ".join(f"{e.name} ({e.version})" for e in self._flows.values()) or "none",
            )
            if self._on_loaded is not None:
                for entry in self._flows.values():
                    if before.get(entry.name) is entry:
                        continue
                    try:
                        self._on_loaded(entry)
                    except Exception:
                        log.exception("IVR flow %s: after-load step failed", entry.name)
            return True
        return False

    def _check(self) -> list[str]:
        with self._lock:
            problems: list[str] = []
            present = self._scan()
            changed = False
            for path in present:
                state = self._files.get(path)
                if state is None:
                    state = self._files[path] = _File(FileWatch(path, every_s=0))
                # (a file back after its removal is read again whatever its version)
                elif not state.watch.changed() and not state.gone:
                    continue
                state.gone = False
                state.watch.taken()  # a bad version is reported once, not every second
                try:
                    entry = self._load_file(path)
                except Exception as exc:
                    problems.append(_message(path, exc))
                    continue
                state.entry = entry
                changed = True
            for path, state in self._files.items():
                if path in present or state.gone:
                    continue
                state.gone = True
                name = state.entry.name if state.entry is not None else None
                if name is not None and name in self.required:
                    problems.append(
                        f"{path}: removed, but flow {name!r} is still needed "
                        f"({self.required[name]}); it stays until the config changes"
                    )
                    continue
                state.entry = None
                changed = True
            if changed:
                flows, clashes = self._assemble()
                problems += clashes
                if flows != self._flows:
                    self._flows = flows
            return problems

    def _assemble(self) -> tuple[dict[str, FlowEntry], list[str]]:
        """The flows by name; a name two files give goes to the file that had it."""
        flows: dict[str, FlowEntry] = {}
        clashes: list[str] = []
        owners = {e.name: e.file for e in self._flows.values()}
        states = sorted(self._files.items(), key=lambda item: str(item[0]))
        for _, state in states:
            entry = state.entry
            if entry is None:
                continue
            other = flows.get(entry.name)
            if other is None:
                flows[entry.name] = entry
                continue
            keep, drop = (other, entry) if owners.get(entry.name) != entry.file else (entry, other)
            flows[entry.name] = keep
            clashes.append(f"{drop.file}: flow name {entry.name!r} is already {keep.file}'s")
        return flows, clashes

    def _scan(self) -> set[Path]:
        try:
            return {
                path.resolve()
                for pattern in PATTERNS
                for path in self.directory.glob(pattern)
                if path.is_file()
            }
        except OSError as exc:
            log.error("IVR flows: cannot read %s: %s", self.directory, exc)
            return {path for path, state in self._files.items() if not state.gone}

    # ------------------------------------------------------------ the `ivr` command

    def describe(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "flows": [
                {"name": e.name, "version": e.version, "file": e.file}
                for e in sorted(self._flows.values(), key=lambda e: e.name)
            ],
            "last_reload_error": self.last_error,
            "last_reload_error_at": self.last_error_at,
            "reloads": self.reloads,
            "refused": self.refused,
        }


def _message(path: Path, exc: Exception) -> str:
    """The loader's own message names file:line and node; anything else gets the path."""
    text = str(exc)
    return text if str(path) in text or path.name in text else f"{path}: {text}"
