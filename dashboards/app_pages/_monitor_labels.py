"""The labels of supervisor monitoring on the Supervisor page and the wallboard, in
English and Chinese, in one place: `label(key, **values)` gives both ("English · 中文"),
as the page's other bilingual labels do, until the dashboards' i18n API takes them
(each entry is one (en, zh) pair, ready to fold into its catalogues)."""

from __future__ import annotations

LABELS: dict[str, tuple[str, str]] = {
    "monitor.title": ("Listen, whisper, barge or intercept", "监听、密语、强插或拦截"),
    "monitor.agent": ("Agent on a call", "通话中的坐席"),
    "monitor.record": ("Record this session", "录下本次监听"),
    "monitor.none": ("No agent is ringing or talking.", "没有坐席在振铃或通话。"),
    "monitor.phone": (
        "Your phone ({user}) rings: answer it to start. Your desk must be logged in as a "
        "supervisor. On its keypad: {listen} listen, {whisper} whisper, {barge} barge, "
        "{intercept} intercept.",
        "您的电话（{user}）将振铃，接听即开始；您须以班长身份登录坐席。"
        "通话中按键：{listen} 监听，{whisper} 密语，{barge} 强插，{intercept} 拦截。",
    ),
    "monitor.answered_only": (
        "Listen, whisper and barge need an answered call; intercept takes a ringing one too.",
        "监听、密语和强插仅限已接通的通话；拦截也可用于振铃中的通话。",
    ),
    "monitor.needs_role": (
        "Monitoring needs the supervisor role; {user} has {roles}.",
        "监听需要班长角色；{user} 的角色为 {roles}。",
    ),
    "mode.listen": ("Listen", "监听"),
    "mode.whisper": ("Whisper", "密语"),
    "mode.barge": ("Barge", "强插"),
    "mode.intercept": ("Intercept", "拦截"),
    "state.ringing": ("ringing", "振铃中"),
    "state.active": ("active", "进行中"),
    "state.reserved": ("ringing", "振铃中"),
    "state.talking": ("talking", "通话中"),
    "sessions.title": ("Monitoring sessions", "监听会话"),
    "sessions.none": ("No monitoring session.", "没有监听会话。"),
    "sessions.switch_to": ("Switch to", "切换为"),
    "sessions.switch": ("Switch", "切换"),
    "sessions.stop": ("Stop", "结束"),
    "sessions.theirs": ("another supervisor's", "其他班长的"),
    "column.monitored": ("Monitored", "被监听"),
}

# The marker on a monitored agent's row.
MONITORED_MARK = "🎧"


def label(key: str, **values: object) -> str:
    """The English and the Chinese text of `key`, filled with `values`."""
    en, zh = LABELS[key]
    return f"{en.format(**values)} · {zh.format(**values)}"


def short(key: str) -> str:
    """One word for a table cell or a picker: the two languages without the spaces (a
    key without a label: its last part, as the ACD named it)."""
    if key not in LABELS:
        return key.rsplit(".", 1)[-1]
    en, zh = LABELS[key]
    return f"{en}/{zh}"


def monitored_text(modes: str) -> str:
    """A wallboard cell from the modes of the agent's live sessions ("listen, barge")."""
    if not modes:
        return ""
    return f"{MONITORED_MARK} " + ", ".join(short(f"mode.{m}") for m in modes.split(", "))


def duration_text(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 60}:{s % 60:02d}"
