"""The IVR host with its real parts, on Sippy's loop: the interpreter (`ivr`), the flows
directory and its reload, the schedules, the data sources (`bizdata`), the prompt
renderer, two worker pools and the state in Redis. `_app.py` builds it with
`sippy_ivr` and attaches it to the controller with `IvrRuntime.attach`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ivr
import prompts
from controller._ivr_flows import FlowLibrary
from controller._ivr_host import IvrHost
from controller._ivr_lookups import LookupRunner
from controller._ivr_options import IvrOptions, IvrSettings
from controller._ivr_ports import ArrivedCall, DataSource, FlowEntry, IvrSession, SessionFactory
from controller._ivr_prompts import PromptsRenderer
from controller._ivr_state import RedisSnapshots
from controller._ports import Cancellable, EventPublisher, Execute

if TYPE_CHECKING:
    from controller._acd_driver import AcdDriver
    from controller._commands import Commands
    from controller._dtmf import DtmfDigits

__all__ = ["IvrRuntime", "flow_entry", "open_schedules", "session_factory", "sippy_ivr"]

log = logging.getLogger("controller.ivr")

RENDER_WORKERS = 2  # espeak-ng and sox: CPU-bound, and cached after the first call
LOOKUP_WORKERS = 4  # a slow data source holds one until its deadline


def _now() -> datetime:
    return datetime.now(UTC)


def flow_entry(path: Path, *, schedules: Collection[str], sources: Collection[str]) -> FlowEntry:
    """One flow file, checked against the schedules and data sources this replica has."""
    flow = ivr.load_flow(path, schedules=schedules)
    missing = sorted(flow.sources - set(sources))
    if missing:
        raise ivr.FlowError(
            [f"{path}: data source(s) {', '.join(missing)} not in the config's bizdata.sources"]
        )
    return FlowEntry(flow.name, flow, flow.version, flow.path)


def session_factory(
    schedules: Mapping[str, ivr.Schedule], now: Callable[[], datetime] = _now
) -> SessionFactory:
    def new_session(flow: object, facts: ArrivedCall) -> IvrSession:
        assert isinstance(flow, ivr.Flow)
        session: IvrSession = ivr.Session(
            flow,
            call=ivr.CallFacts(caller=facts.caller, dialled=facts.dialled, category=facts.category),
            clock=now,
            schedules={name: schedules[name] for name in flow.schedules},
        )
        return session

    return new_session


def open_schedules(settings: IvrSettings) -> dict[str, ivr.Schedule]:
    if not settings.schedules:
        return {}
    from configuration import ScheduleSpec  # noqa: PLC0415 - pydantic only with schedules

    return {
        name: ivr.Schedule.from_spec(ScheduleSpec.model_validate(spec))
        for name, spec in settings.schedules.items()
    }


@dataclass(frozen=True)
class DataSources:
    """The data sources of the config's `bizdata:` section, with their deadlines."""

    sources: Mapping[str, DataSource] = field(default_factory=dict)
    deadline_s: Mapping[str, float] = field(default_factory=dict)

    def close(self) -> None:
        if self.sources:
            import bizdata  # noqa: PLC0415

            bizdata.close_sources(self.sources)


# The host's own deadline on a lookup comes after the source's (bizdata enforces that
# one and answers DataSourceError): it only covers a source that does not.
_DEADLINE_MARGIN_S = 0.5


def open_data_sources(settings: IvrSettings, run_dir: Path | None) -> DataSources:
    """`bizdata.open_sources` of the settings' section (none: bizdata's defaults, the
    store in the run directory). Without a run directory (no --ivr-settings): none."""
    if run_dir is None:
        return DataSources()
    import bizdata  # noqa: PLC0415 - SQLAlchemy loads only for an IVR with data
    from configuration import BizdataSection  # noqa: PLC0415

    section = BizdataSection.model_validate(settings.bizdata or {})
    sources = bizdata.open_sources(section, run_dir)
    deadlines = {
        name: spec.deadline_ms / 1000 + _DEADLINE_MARGIN_S
        for name, spec in section.sources.items()
        if name in sources
    }
    return DataSources(sources, deadlines)


def static_texts(flow: object) -> dict[str, list[str]]:
    """The flow's prompt texts without a slot, by language: rendered ahead of the first
    caller (`prompts.prewarm`). A prompt's text is a template of literal parts and
    slots (`ivr`); only one made of literal parts alone is the same for every call."""
    assert isinstance(flow, ivr.Flow)
    texts: dict[str, list[str]] = {}
    for prompt in flow.prompts.values():
        for language, item in prompt.by_language.items():
            parts = getattr(item, "parts", None)  # a Template; a Wav has none
            if parts and all(isinstance(part, str) for part in parts):
                texts.setdefault(language, []).append("".join(parts))
    return texts


def prewarm(entry: FlowEntry, cache_dir: Path) -> None:
    """Render a flow's fixed prompts into the cache (a worker or the flows thread)."""
    try:
        done = prompts.prewarm(static_texts(entry.flow), cache_dir)
    except prompts.PromptError as exc:
        log.warning("flow %s: prompts not rendered ahead: %s", entry.name, exc)
        return
    log.info("flow %s: prompts ready (%s)", entry.name, done)


@dataclass(eq=False)
class IvrRuntime:
    host: IvrHost
    library: FlowLibrary
    state: RedisSnapshots | None = None
    pools: list[ThreadPoolExecutor] = field(default_factory=list)
    sources: DataSources = field(default_factory=DataSources)
    warm_up: Callable[[], None] | None = None  # renders the flows' fixed prompts

    def attach(
        self,
        commands: Commands,
        events: EventPublisher,
        digits: DtmfDigits,
        acd: AcdDriver | None,
    ) -> None:
        """Give the host the controller's commands, events and digits, and, with the
        ACD, the driver's arrivals and its entry for answered calls."""
        execute: Execute = commands.execute
        self.host.bind(execute, events)
        digits.subscribe(self.host.on_digit)
        if acd is not None:
            self.host.claims_from_driver = True
            self.host.queue = acd
            acd.claim_arrivals(self.host.claim)
        commands.ivr_stats = self.stats
        commands.ivr_calls = lambda: sum(1 for c in self.host.calls.values() if not c.done)

    def start(self) -> None:
        self.library.start()
        if self.warm_up is not None:
            self.warm_up()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {**self.library.describe(), **self.host.describe()}
        stats["state"] = None if self.state is None else self.state.stats()
        return stats

    def stop(self) -> None:
        self.library.stop()
        for pool in self.pools:
            pool.shutdown(wait=False, cancel_futures=True)
        if self.state is not None:
            self.state.close()
        self.sources.close()


def _submitter(pool: ThreadPoolExecutor, what: str) -> Callable[[Callable[[], None]], None]:
    def submit(job: Callable[[], None]) -> None:
        def logged() -> None:
            try:
                job()
            except Exception:  # a bug in one job must not kill the worker silently
                log.exception("IVR %s job failed", what)

        pool.submit(logged)

    return submit


def sippy_ivr(
    options: IvrOptions,
    *,
    node: str,
    redis: tuple[str, int] | None,
    redis_timeout_s: float = 0.2,
) -> IvrRuntime:
    """The IVR on Sippy's loop. Raises `FlowLoadError` (or `ValueError` for schedules
    or data sources) when it cannot start; the controller then exits."""
    from sippy.Core.EventDispatcher import ED2  # noqa: PLC0415
    from sippy.Time.Timeout import Timeout  # noqa: PLC0415

    def later(delay_s: float, callback: Callable[[], None]) -> Cancellable:
        timeout: Cancellable = Timeout(callback, delay_s)
        return timeout

    import bizdata  # noqa: PLC0415 - its interface only; SQLAlchemy loads with a source

    schedules = open_schedules(options.settings)
    run_dir = None if options.settings_file is None else options.settings_file.parent
    data = open_data_sources(options.settings, run_dir)
    cache = options.prompt_cache
    library = FlowLibrary(
        options.flows_dir,
        partial(flow_entry, schedules=set(schedules), sources=set(data.sources)),
        required=options.required_flows(),
        on_loaded=partial(prewarm, cache_dir=cache),  # a reloaded flow, on its thread
    ).load()
    render_pool = ThreadPoolExecutor(RENDER_WORKERS, thread_name_prefix="ivr-prompts")
    lookup_pool = ThreadPoolExecutor(LOOKUP_WORKERS, thread_name_prefix="ivr-lookups")
    render = _submitter(render_pool, "prompt")
    lookups = LookupRunner(
        data.sources,
        submit=_submitter(lookup_pool, "lookup"),
        post=ED2.callFromThread,
        later=later,
        deadline_s=data.deadline_s,
        failure_types=(bizdata.DataSourceError,),
    )
    state = (
        None
        if redis is None
        else RedisSnapshots.connect(*redis, timeout_s=redis_timeout_s, ttl_s=options.state_ttl_s)
    )
    host = IvrHost(
        routes=options.routes(),
        flows=lambda: library.flows,
        new_session=session_factory(schedules),
        renderer=PromptsRenderer(cache),
        lookups=lookups,
        post=ED2.callFromThread,
        later=later,
        submit=render,
        node=node,
        schedules=schedules,
        state=state,
        clock=time.time,
        now=_now,
    )

    def warm_up() -> None:
        for entry in library.flows.values():
            render(partial(prewarm, entry, cache))

    return IvrRuntime(host, library, state, [render_pool, lookup_pool], data, warm_up)
