"""The dashboards in the supervisors' language: Chinese (zh) and English (en).

The API the pages use (all of it):

- `t(key, **params)`: the text of `key` in the session's language, `str.format`ted with
  `params` (format numbers first: `fmt_int`, `fmt_pct`, `fmt_duration`). An unknown key
  raises KeyError, so a page never shows a key. `t(key, lang="en")` for a given language.
- `CATALOG`: key -> {"en": ..., "zh": ...}. To add a text, add one entry with both
  languages (tests/dashboards/test_i18n.py fails on a key missing in either, and on a
  rendered label that is not in the page's language). Keys are grouped by page prefix:
  `app.`/`nav.`/`lang.` the shell, `login.`, `wb.` wallboard, `rep.` reports, `ivr.`,
  `staff.` staffing, `sup.` supervisor, `rec.` recordings, `col.` column names,
  `state.` agent states, `role.`.
- `language()`: the session's language code.
- `fmt_int`, `fmt_number`, `fmt_pct`, `fmt_duration(seconds, lang)`: figures for
  reading (1,234; 87.5 %; 2:05 or 2分05秒). `value_text(column, value)`: a cell of
  ours in words (agent state, recording status and failure, access log action).
- Tables: `table_columns(df)` the `column_config` of `st.dataframe` (every column's
  label with its unit, datetimes in the call center's zone); `styled(df)` the frame as
  a pandas Styler showing counts, percentages, durations and agent states for reading
  (the data stays numeric: sorting, tests and CSV export see the numbers);
  `labelled(df)` the frame with its columns renamed to their labels (for `st.table`
  and charts, which take no column_config).
- The shell (dashboards/app.py): `start_session(default, store)` once per run before
  anything is drawn, `language_switch(store)` in the sidebar; `on_login(store,
  username)` after a login (dashboards/app_pages/_login.py) applies the user's
  remembered language.

Where the choice lives: `st.session_state["lang"]` for the browser session; the URL's
`?lang=` (so a wall display's bookmark keeps its language without a login); and, for a
logged-in supervisor, `LanguagePreferences` (dashboards/_preferences.py), a JSON file in
the run directory keyed by username, so it survives new sessions and restarts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import streamlit as st

from dashboards._format import LANGUAGES, MISSING, fmt_duration, fmt_int, fmt_number, fmt_pct
from dashboards._preferences import LanguagePreferences, PreferencesFileError

__all__ = [
    "CATALOG",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "MISSING",
    "LanguagePreferences",
    "PreferencesFileError",
    "column_label",
    "fmt_duration",
    "fmt_int",
    "fmt_number",
    "fmt_pct",
    "labelled",
    "language",
    "language_switch",
    "on_login",
    "start_session",
    "state_label",
    "styled",
    "t",
    "table_columns",
    "value_text",
]

# Each language named in itself, as language switches do.
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}
SESSION_KEY = "lang"
WIDGET_KEY = "lang_switch"
QUERY_PARAM = "lang"

CATALOG: dict[str, dict[str, str]] = {
    # The shell: page title, navigation, the language switch.
    "app.title": {"en": "Huaan Call Center", "zh": "华安呼叫中心"},
    "nav.wallboard": {"en": "Wallboard", "zh": "实时看板"},
    "nav.reports": {"en": "Reports", "zh": "统计报表"},
    "nav.staffing": {"en": "Staffing (Erlang C)", "zh": "排班测算（Erlang C）"},
    "nav.supervisor": {"en": "Supervisor", "zh": "班长操作"},
    "nav.recordings": {"en": "Recordings", "zh": "录音"},
    "lang.label": {"en": "Language", "zh": "语言"},
    "lang.not_saved": {
        "en": "Your language choice is not remembered: {detail}",
        "zh": "未能保存语言选择：{detail}",
    },
    # The login form (Supervisor and Recordings pages).
    "login.username": {"en": "Username", "zh": "用户名"},
    "login.password": {"en": "Password", "zh": "密码"},
    "login.submit": {"en": "Log in", "zh": "登录"},
    "login.locked": {
        "en": "Too many failed logins; try again in a moment.",
        "zh": "登录失败次数过多，请稍后再试。",
    },
    "login.refused": {"en": "Login refused: {reason}", "zh": "登录被拒绝：{reason}"},
    "login.reason.invalid": {"en": "invalid username or password", "zh": "用户名或密码错误"},
    "login.reason.no_role": {
        "en": "{user} has no supervisor role: read-only access",
        "zh": "{user} 没有班长角色：只读访问",
    },
    "login.as": {"en": "Logged in as {user} ({roles})", "zh": "已登录：{user}（{roles}）"},
    "login.logout": {"en": "Log out", "zh": "退出登录"},
    "unit.seconds": {"en": "{n} s", "zh": "{n} 秒"},
    "unit.seconds_axis": {"en": "seconds", "zh": "秒"},
    "role.supervisor": {"en": "supervisor", "zh": "班长"},
    "role.admin": {"en": "admin", "zh": "管理员"},
    "role.agent": {"en": "agent", "zh": "座席"},
    # Agent states (the ACD's, dashboards/_live.py).
    "state.logged_out": {"en": "Logged out", "zh": "已签出"},
    "state.idle": {"en": "Idle", "zh": "空闲"},
    "state.busy": {"en": "Busy", "zh": "示忙"},
    "state.reserved": {"en": "Ringing", "zh": "振铃中"},
    "state.talking": {"en": "Talking", "zh": "通话中"},
    "state.wrap_up": {"en": "Wrap-up", "zh": "话后处理"},
    # Wallboard.
    "wb.title": {"en": "Wallboard", "zh": "实时看板"},
    "wb.sl_today": {"en": "Service level today ({threshold})", "zh": "今日服务水平（{threshold}）"},
    "wb.sl_vs_target": {
        "en": "{diff} points vs target {target}",
        "zh": "{diff} 个百分点（目标 {target}）",
    },
    "wb.abandon_today": {"en": "Abandon rate today", "zh": "今日放弃率"},
    "wb.waiting": {"en": "Waiting now", "zh": "当前排队"},
    "wb.longest": {"en": "Longest wait", "zh": "最长等待"},
    "wb.over_limit": {"en": "+{over} over the {limit} limit", "zh": "+{over}（上限 {limit}）"},
    "wb.agents_in": {"en": "Agents logged in", "zh": "在线座席"},
    "wb.queues": {"en": "Queues", "zh": "队列"},
    "wb.agents": {"en": "Agents", "zh": "座席"},
    "wb.footer": {
        "en": "Live source: {source} · offered today {offered}, answered {answered} · "
        "refreshed every {refresh} · targets: service level {target}, longest wait {limit}",
        "zh": "实时来源：{source} · 今日呼入 {offered}，接通 {answered} · 每 {refresh}刷新 · "
        "目标：服务水平 {target}，最长等待 {limit}",
    },
    "wb.source.event_log": {"en": "event log", "zh": "事件日志"},
    "wb.source.none": {"en": "none", "zh": "无"},
    "wb.source.acd": {"en": "ACD {node}", "zh": "排队机 {node}"},
    "wb.problem.live_unavailable": {
        "en": "live view unavailable: {detail}",
        "zh": "实时数据不可用：{detail}",
    },
    "wb.problem.stats_unavailable": {
        "en": "statistics unavailable: {detail}",
        "zh": "统计数据不可用：{detail}",
    },
    # Reports.
    "rep.title": {"en": "Reports", "zh": "统计报表"},
    "rep.range": {"en": "Date range", "zh": "日期范围"},
    "rep.queues": {"en": "Queues", "zh": "队列"},
    "rep.agents": {"en": "Agents", "zh": "座席"},
    "rep.all": {"en": "All (choose to narrow)", "zh": "全部（可选择筛选）"},
    "rep.interval": {"en": "Interval", "zh": "统计间隔"},
    "rep.interval.day": {"en": "day", "zh": "按天"},
    "rep.interval.minutes": {"en": "{minutes} min", "zh": "{minutes} 分钟"},
    "rep.offered_per_interval": {"en": "Offered calls per interval", "zh": "各时段呼入量"},
    "rep.sl_per_interval": {
        "en": "Service level per interval (answered within {threshold}), %",
        "zh": "各时段服务水平（{threshold}内接通），%",
    },
    "rep.calls": {"en": "Calls", "zh": "通话记录"},
    "rep.monitor": {"en": "Supervisor monitoring", "zh": "班长监控"},
    "rep.monitor.none": {
        "en": "No supervisor listened, whispered or barged in during this range.",
        "zh": "此期间没有班长监听、耳语或强插。",
    },
    "rep.monitor.caption": {
        "en": "Sessions started in the range. Answered: the supervisor's phone answered; "
        "times count from then, by mode (listen, whisper, barge).",
        "zh": "此期间开始的监控。接通：班长电话已接听；时长从接听起按模式（监听、耳语、强插）计。",
    },
    "rep.monitor.by_supervisor": {"en": "Per supervisor", "zh": "按班长"},
    "rep.monitor.by_agent": {"en": "Per agent monitored", "zh": "按被监控座席"},
    "rep.download_cdrs": {"en": "Download CDRs (CSV)", "zh": "下载通话记录（CSV）"},
    "rep.download_summary": {
        "en": "Download queue summary (CSV)",
        "zh": "下载队列汇总（CSV）",
    },
    "ivr.title": {"en": "IVR", "zh": "语音导航（IVR）"},
    "ivr.none": {
        "en": "No call went through the IVR in this range.",
        "zh": "此日期范围内没有经过语音导航的呼叫。",
    },
    "ivr.calls": {"en": "IVR calls", "zh": "导航呼叫数"},
    "ivr.self_served": {"en": "Self-served", "zh": "自助完成"},
    "ivr.containment_rate": {"en": "Containment rate", "zh": "自助完成率"},
    "ivr.containment_caption": {
        "en": "Containment per dialled number and flow (the flow's first node): how the IVR "
        "let go of each call. Containment = self-served / IVR calls; to an agent = queued or "
        "transferred; abandoned in the IVR = the caller hung up in the IVR; other = closed, "
        "voicemail, maximum time, retries exhausted, error.",
        "zh": "按被叫号码和流程（流程的第一个节点）统计的自助完成情况：每个呼叫如何离开导航。"
        "自助完成率 = 自助完成 / 导航呼叫数；转人工 = 进入队列或转接；"
        "导航中放弃 = 主叫在导航中挂机；"
        "其他 = 非服务时间、语音信箱、超时、重试用尽、错误。",
    },
    "ivr.dropoff_caption": {
        "en": "Drop-off per node, in flow path order: calls that visited the node, callers "
        "who hung up there, and calls the flow gave up on there (retries exhausted, "
        "maximum time).",
        "zh": "各节点的流失情况（按流程顺序）：到达该节点的呼叫、在此挂机的主叫、"
        "流程在此放弃的呼叫（重试用尽、超时）。",
    },
    "ivr.all": {"en": "all", "zh": "合计"},
    "ivr.chart_calls": {"en": "calls", "zh": "呼叫数"},
    # Staffing.
    "staff.title": {"en": "Staffing (Erlang C)", "zh": "排班测算（Erlang C）"},
    "staff.forecast": {"en": "Forecast from the last 7 days", "zh": "按最近 7 天预测"},
    "staff.queue": {"en": "Queue (empty: all)", "zh": "队列（空：全部）"},
    "staff.use_history": {"en": "Use history", "zh": "使用历史数据"},
    "staff.calls": {"en": "Calls per interval", "zh": "每时段呼叫量"},
    "staff.interval": {"en": "Interval (min)", "zh": "时段（分钟）"},
    "staff.aht": {"en": "Average handling time (s)", "zh": "平均处理时长（秒）"},
    "staff.target": {"en": "Answer within (s)", "zh": "接通时限（秒）"},
    "staff.goal": {"en": "Service level goal", "zh": "服务水平目标"},
    "staff.traffic": {"en": "Traffic (Erlang)", "zh": "话务量（Erlang）"},
    "staff.needed": {"en": "Agents needed", "zh": "所需座席数"},
    # Supervisor.
    "sup.title": {"en": "Supervisor", "zh": "班长操作"},
    "sup.read_only": {
        "en": "Read-only: log in with a supervisor account to act on agents.",
        "zh": "只读：请用班长账号登录后操作座席。",
    },
    "sup.no_commands": {
        "en": "The ACD API (acd.v1) is not configured: actions are unavailable.",
        "zh": "未配置排队机接口（acd.v1）：无法操作。",
    },
    "sup.no_agents": {"en": "No agent is logged in.", "zh": "没有已签入的座席。"},
    "sup.agent": {"en": "Agent", "zh": "座席"},
    "sup.busy_reason": {"en": "Busy reason", "zh": "示忙原因"},
    "sup.force_logout": {"en": "Force logout", "zh": "强制签出"},
    "sup.force_busy": {"en": "Force busy", "zh": "强制示忙"},
    "sup.force_idle": {"en": "Force idle", "zh": "强制示闲"},
    "sup.result": {"en": "{agent}: {message}", "zh": "{agent}：{message}"},
    "sup.done": {"en": "done", "zh": "已完成"},
    "sup.deferred": {"en": "deferred until the call ends", "zh": "将在通话结束后执行"},
    "sup.none_on_call": {"en": "No agent is ringing or talking.", "zh": "没有振铃或通话中的座席。"},
    "sup.intercept": {"en": "Intercept", "zh": "拦截"},
    "sup.intercept_result": {"en": "Intercept {agent}: {message}", "zh": "拦截 {agent}：{message}"},
    "sup.intercept_ringing": {
        "en": "call {call}: ringing {user} to take it over",
        "zh": "呼叫 {call}：正在呼叫 {user} 接管",
    },
    "sup.voicemail": {"en": "Voicemail", "zh": "语音信箱"},
    "sup.vm_box": {"en": "Mailbox (empty: all)", "zh": "信箱（空：全部）"},
    "sup.vm_heard": {"en": "Include heard", "zh": "含已听"},
    "sup.vm_error": {"en": "Voicemail: {message}", "zh": "语音信箱：{message}"},
    "sup.vm_none": {"en": "No voicemail message", "zh": "没有留言"},
    "sup.vm_new": {"en": "new", "zh": "新"},
    "sup.vm_message": {"en": "Message", "zh": "留言"},
    "sup.vm_play": {"en": "Play", "zh": "播放"},
    "sup.vm_mark_heard": {"en": "Mark heard", "zh": "标为已听"},
    "sup.vm_delete": {"en": "Delete", "zh": "删除"},
    # Recordings.
    "rec.title": {"en": "Recordings", "zh": "录音"},
    "rec.read_only": {
        "en": "Log in with a supervisor or admin account to search and play recordings.",
        "zh": "请用班长或管理员账号登录后查询和播放录音。",
    },
    "rec.not_configured": {
        "en": "Recordings are not configured (no recording: or bizdata: section).",
        "zh": "未配置录音（配置中没有 recording: 或 bizdata: 部分）。",
    },
    "rec.call_id": {"en": "Call ID", "zh": "呼叫号"},
    "rec.agent": {"en": "Agent", "zh": "座席"},
    "rec.number": {"en": "Number (caller or dialled)", "zh": "号码（主叫或被叫）"},
    "rec.range": {"en": "Started between", "zh": "开始日期"},
    "rec.count": {"en": "{count} recordings (newest first)", "zh": "{count} 条录音（最新在前）"},
    "rec.recording": {"en": "Recording", "zh": "录音"},
    "rec.failed": {"en": "Failed: {failure} ({status})", "zh": "失败：{failure}（{status}）"},
    "rec.paused": {"en": "Paused: {pauses}", "zh": "暂停：{pauses}"},
    "rec.pause.agent": {"en": "agent", "zh": "座席暂停"},
    "rec.pause.sensitive": {"en": "sensitive data", "zh": "敏感信息"},
    "rec.play": {"en": "Play", "zh": "播放"},
    "rec.refused": {"en": "Refused: {reason}", "zh": "拒绝：{reason}"},
    "rec.reason.not_configured": {
        "en": "recordings are not configured (no recording: or bizdata:)",
        "zh": "未配置录音",
    },
    "rec.no_file": {"en": "No file to play: {detail}", "zh": "无录音文件：{detail}"},
    "rec.hold": {"en": "Put on legal hold", "zh": "法律保留"},
    "rec.release": {"en": "Release legal hold", "zh": "解除法律保留"},
    "rec.held": {"en": "{ref}: on legal hold", "zh": "{ref}：已法律保留"},
    "rec.released": {"en": "{ref}: released", "zh": "{ref}：已解除保留"},
    "rec.access_log": {"en": "Access log", "zh": "访问记录"},
    "rec.this_only": {"en": "This recording only", "zh": "仅此录音"},
    "rec.none": {"en": "No recording matches.", "zh": "没有符合的录音。"},
    "rec.status.recording": {"en": "recording", "zh": "录音中"},
    "rec.status.stored": {"en": "stored", "zh": "已保存"},
    "rec.status.failed": {"en": "failed", "zh": "失败"},
    "rec.status.deleted": {"en": "deleted", "zh": "已删除"},
    "rec.failure.missing": {"en": "segments missing", "zh": "录音片段缺失"},
    "rec.failure.disk_full": {"en": "disk full", "zh": "磁盘已满"},
    "rec.failure.short": {"en": "cut short", "zh": "录音不完整"},
    "rec.failure.rtpengine": {"en": "media server error", "zh": "媒体服务器错误"},
    "rec.failure.convert": {"en": "conversion failed", "zh": "转换失败"},
    "rec.kind.always": {"en": "always on", "zh": "全程录音"},
    "rec.kind.on_demand": {"en": "on demand", "zh": "按需录音"},
    "rec.kind.voicemail": {"en": "voicemail", "zh": "语音留言"},
    "rec.kind.monitor": {"en": "monitoring (3 channels)", "zh": "班长监控（三声道）"},
    "rec.action.play": {"en": "play", "zh": "播放"},
    "rec.action.hold": {"en": "hold", "zh": "保留"},
    "rec.action.release": {"en": "release", "zh": "解除保留"},
    "rec.action.delete": {"en": "delete", "zh": "删除"},
    # Column names, with their units (a table's header says what a figure counts).
    "col.queue": {"en": "Queue", "zh": "队列"},
    "col.offered": {"en": "Offered", "zh": "呼入量"},
    "col.answered": {"en": "Answered", "zh": "接通量"},
    "col.abandoned": {"en": "Abandoned", "zh": "放弃量"},
    "col.overflowed": {"en": "Overflowed", "zh": "溢出量"},
    "col.answered_within": {"en": "Answered within threshold", "zh": "阈值内接通"},
    "col.abandoned_within": {"en": "Abandoned within threshold", "zh": "阈值内放弃"},
    "col.sl": {"en": "Service level %", "zh": "服务水平 %"},
    "col.sl2": {"en": "Service level 2 (SL2) %", "zh": "服务水平2（SL2）%"},
    "col.sl_with_abandoned": {
        "en": "Service level (incl. abandoned) %",
        "zh": "服务水平（含放弃）%",
    },
    "col.sl2_of_offered": {"en": "SL2 of offered %", "zh": "SL2（占呼入）%"},
    "col.abandon_rate": {"en": "Abandon rate %", "zh": "放弃率 %"},
    "col.asa_s": {"en": "Avg. speed of answer (m:ss)", "zh": "平均应答时长"},
    "col.aht_s": {"en": "Avg. handling time (m:ss)", "zh": "平均处理时长"},
    "col.avg_talk_s": {"en": "Avg. talk time (m:ss)", "zh": "平均通话时长"},
    "col.wait_p50_s": {"en": "Median wait (m:ss)", "zh": "等待中位数"},
    "col.wait_p90_s": {"en": "90th percentile wait (m:ss)", "zh": "90% 等待时长"},
    "col.max_wait_s": {"en": "Longest wait (m:ss)", "zh": "最长等待"},
    "col.interval_start": {"en": "Interval start", "zh": "时段开始"},
    "col.agent": {"en": "Agent", "zh": "座席"},
    "col.seat": {"en": "Seat", "zh": "座位"},
    "col.state": {"en": "State", "zh": "状态"},
    "col.time_in_state_s": {"en": "Time in state (m:ss)", "zh": "状态时长"},
    "col.reason": {"en": "Reason", "zh": "原因"},
    "col.waiting": {"en": "Waiting", "zh": "排队数"},
    "col.longest_wait_s": {"en": "Longest wait (m:ss)", "zh": "最长等待"},
    "col.sl_today": {"en": "Service level today %", "zh": "今日服务水平 %"},
    "col.abandon_rate_today": {"en": "Abandon rate today %", "zh": "今日放弃率 %"},
    "col.calls": {"en": "Calls", "zh": "通话数"},
    "col.talk_s": {"en": "Talk time (h:mm:ss)", "zh": "通话时长"},
    "col.hold_s": {"en": "Hold time (h:mm:ss)", "zh": "保持时长"},
    "col.ring_no_answer": {"en": "Rang, not answered", "zh": "振铃未接"},
    "col.login_s": {"en": "Logged in (h:mm:ss)", "zh": "签入时长"},
    "col.idle_s": {"en": "Idle (h:mm:ss)", "zh": "空闲时长"},
    "col.busy_s": {"en": "Busy (h:mm:ss)", "zh": "示忙时长"},
    "col.talking_s": {"en": "Talking (h:mm:ss)", "zh": "通话状态时长"},
    "col.wrapup_s": {"en": "Wrap-up (h:mm:ss)", "zh": "话后处理时长"},
    "col.occupancy": {"en": "Occupancy %", "zh": "占用率 %"},
    "col.correlation_id": {"en": "Call ID", "zh": "呼叫号"},
    "col.category": {"en": "Category", "zh": "类别"},
    "col.caller": {"en": "Caller", "zh": "主叫号码"},
    "col.dialled": {"en": "Dialled number", "zh": "被叫号码"},
    "col.trunk": {"en": "Trunk", "zh": "中继"},
    "col.arrived_at": {"en": "Arrived", "zh": "呼入时间"},
    "col.queued_at": {"en": "Queued", "zh": "排队时间"},
    "col.answered_at": {"en": "Answered", "zh": "接通时间"},
    "col.ended_at": {"en": "Ended", "zh": "结束时间"},
    "col.ivr_path": {"en": "IVR path", "zh": "导航路径"},
    "col.ivr_result": {"en": "IVR result", "zh": "导航结果"},
    "col.ivr_exit_node": {"en": "IVR exit node", "zh": "导航退出节点"},
    "col.disposition": {"en": "Outcome", "zh": "呼叫结果"},
    "col.wait_s": {"en": "Wait (m:ss)", "zh": "等待时长"},
    "col.hangup_cause": {"en": "Hangup cause", "zh": "挂机原因"},
    "col.hangup_side": {"en": "Hung up by", "zh": "挂机方"},
    "col.recording_ref": {"en": "Recording", "zh": "录音编号"},
    "col.transfers": {"en": "Transfers", "zh": "转接次数"},
    "col.wrap_up_code": {"en": "Wrap-up code", "zh": "小结代码"},
    "col.recording_pauses": {"en": "Recording pauses", "zh": "录音暂停次数"},
    "col.voicemail_box": {"en": "Voicemail box", "zh": "语音信箱"},
    "col.message_played": {"en": "Message played", "zh": "已播放留言"},
    "col.flow": {"en": "Flow", "zh": "流程"},
    "col.ivr_calls": {"en": "IVR calls", "zh": "导航呼叫数"},
    "col.self_served": {"en": "Self-served", "zh": "自助完成"},
    "col.to_agent": {"en": "To an agent", "zh": "转人工"},
    "col.abandoned_in_ivr": {"en": "Abandoned in the IVR", "zh": "导航中放弃"},
    "col.other": {"en": "Other", "zh": "其他"},
    "col.containment_rate": {"en": "Containment %", "zh": "自助完成率 %"},
    "col.containment": {"en": "Containment %", "zh": "自助完成率 %"},
    "col.step": {"en": "Step", "zh": "步骤"},
    "col.node": {"en": "Node", "zh": "节点"},
    "col.visits": {"en": "Visits", "zh": "到达次数"},
    "col.caller_left": {"en": "Caller left", "zh": "主叫挂机"},
    "col.failed": {"en": "Failed", "zh": "流程放弃"},
    "col.drop_off_rate": {"en": "Drop-off %", "zh": "流失率 %"},
    "col.drop_off": {"en": "Drop-off %", "zh": "流失率 %"},
    "col.agents": {"en": "Agents", "zh": "座席数"},
    "col.service_level": {"en": "Service level %", "zh": "服务水平 %"},
    "col.p_wait": {"en": "Probability of waiting %", "zh": "等待概率 %"},
    "col.meets_goal": {"en": "Meets the goal", "zh": "达到目标"},
    "col.started_at": {"en": "Started", "zh": "开始时间"},
    "col.call_id": {"en": "Call ID", "zh": "呼叫号"},
    "col.name": {"en": "Name", "zh": "名称"},
    "col.number": {"en": "Dialled number", "zh": "被叫号码"},
    "col.duration_s": {"en": "Length (m:ss)", "zh": "时长"},
    "col.status": {"en": "Status", "zh": "状态"},
    "col.failure": {"en": "Failure", "zh": "失败原因"},
    "col.pauses": {"en": "Pauses", "zh": "暂停"},
    "col.legal_hold": {"en": "Legal hold", "zh": "法律保留"},
    "col.ref": {"en": "Reference", "zh": "录音编号"},
    "col.at": {"en": "When", "zh": "时间"},
    "col.actor": {"en": "Who", "zh": "操作人"},
    "col.action": {"en": "Action", "zh": "操作"},
    "col.message_id": {"en": "Message ID", "zh": "留言编号"},
    "col.box": {"en": "Mailbox", "zh": "信箱"},
    "col.received_at": {"en": "Received", "zh": "留言时间"},
    "col.heard": {"en": "Heard", "zh": "已听"},
    "col.kind": {"en": "Kind", "zh": "录音类型"},
    # The Reports page's monitoring section (analytics' monitor_summary).
    "col.supervisor": {"en": "Supervisor", "zh": "班长"},
    "col.session_id": {"en": "Session", "zh": "监控会话"},
    "col.mode": {"en": "Mode", "zh": "方式"},
    "col.sessions": {"en": "Sessions", "zh": "监控次数"},
    "col.total_s": {"en": "Total time (h:mm:ss)", "zh": "总时长"},
    "col.avg_s": {"en": "Avg. time (m:ss)", "zh": "平均时长"},
    "col.listen_s": {"en": "Listening (h:mm:ss)", "zh": "监听时长"},
    "col.whisper_s": {"en": "Whispering (h:mm:ss)", "zh": "耳语时长"},
    "col.barge_s": {"en": "Barged in (h:mm:ss)", "zh": "强插时长"},
    "col.switches": {"en": "Mode switches", "zh": "模式切换次数"},
    "col.intercepts": {"en": "Intercepts", "zh": "拦截次数"},
    "col.recorded": {"en": "Recorded", "zh": "已录音"},
    # Supervisor monitoring (docs/monitoring.md): the Supervisor page and the wallboard.
    "col.monitored": {"en": "Monitored", "zh": "被监听"},
    "mon.title": {"en": "Listen, whisper, barge or intercept", "zh": "监听、密语、强插或拦截"},
    "mon.needs_role": {
        "en": "Monitoring needs the supervisor role; {user} has: {roles}.",
        "zh": "监听需要班长角色；{user} 的角色：{roles}。",
    },
    "mon.agent": {"en": "Agent on a call", "zh": "通话中的座席"},
    "mon.record": {"en": "Record this session", "zh": "录下本次监听"},
    "mon.phone": {
        "en": "Your phone ({user}) rings: answer it to start. Your desk must be logged in "
        "as a supervisor (and idle, to intercept). On its keypad: {listen} listen, "
        "{whisper} whisper, {barge} barge, {intercept} intercept.",
        "zh": "您的话机（{user}）将振铃，接听即开始；您的座席须以班长身份签入（拦截时须空闲）。"
        "按键：{listen} 监听，{whisper} 密语，{barge} 强插，{intercept} 拦截。",
    },
    "mon.answered_only": {
        "en": "Listen, whisper and barge need an answered call; intercept takes a ringing one too.",
        "zh": "监听、密语和强插仅限已接通的通话；拦截也可用于振铃中的通话。",
    },
    "mon.result": {"en": "{mode} {agent}: {message}", "zh": "{mode} {agent}：{message}"},
    "mon.ringing": {
        "en": "session {session} on call {call}: ringing {user}",
        "zh": "会话 {session}（呼叫 {call}）：正在呼叫 {user}",
    },
    "mon.mode.listen": {"en": "Listen", "zh": "监听"},
    "mon.mode.whisper": {"en": "Whisper", "zh": "密语"},
    "mon.mode.barge": {"en": "Barge", "zh": "强插"},
    "mon.mode.intercept": {"en": "Intercept", "zh": "拦截"},
    "mon.state.ringing": {"en": "phone ringing", "zh": "话机振铃中"},
    "mon.state.active": {"en": "active", "zh": "进行中"},
    "mon.sessions": {"en": "Monitoring sessions", "zh": "监听会话"},
    "mon.no_sessions": {"en": "No monitoring session.", "zh": "没有监听会话。"},
    "mon.session": {
        "en": "**{supervisor}** → **{agent}** · {mode} · {state} · {duration}",
        "zh": "**{supervisor}** → **{agent}** · {mode} · {state} · {duration}",
    },
    "mon.theirs": {"en": "another supervisor's", "zh": "其他班长的会话"},
    "mon.switch_to": {"en": "Switch to", "zh": "切换为"},
    "mon.switch": {"en": "Switch", "zh": "切换"},
    "mon.stop": {"en": "Stop", "zh": "结束"},
}

# How a column's figures read, by name: ratios as percentages, seconds as durations;
# other numeric columns are counts (integers) or measured figures (floats).
PERCENT_COLUMNS = frozenset(
    {
        "sl",
        "sl2",
        "sl_with_abandoned",
        "sl2_of_offered",
        "abandon_rate",
        "occupancy",
        "containment_rate",
        "drop_off_rate",
        "sl_today",
        "abandon_rate_today",
        "service_level",
        "p_wait",
    }
)


# Columns whose values are words of ours (agent states, recording statuses, access
# log actions): shown in the page's language; other values are data (names, numbers).
# A failure is "reason: detail": the reason is ours, the detail the recorder's words.
VALUE_TEXTS = {
    "state": "state",
    "status": "rec.status",
    "action": "rec.action",
    "failure": "rec.failure",
    "kind": "rec.kind",
}


def _value_text(prefix: str, value: object, lang: str) -> str:
    text = str(value)
    head, sep, tail = text.partition(": ")
    entry = CATALOG.get(f"{prefix}.{head}")
    return entry[lang] + sep + tail if entry else text


# A recording's pauses as _views.pauses_text writes them: "0:12.0–0:15.5 agent; ...".
_PAUSE_REASON = re.compile(r"(?<= )([a-z_]+)(?=;|$)")


def _pauses_text(value: object, lang: str) -> str:
    def word(reason: re.Match[str]) -> str:
        entry = CATALOG.get(f"rec.pause.{reason[1]}")
        return entry[lang] if entry else reason[1]

    return _PAUSE_REASON.sub(word, str(value))


def value_text(column: str, value: object, lang: str | None = None) -> str:
    """A cell of `column` as the page shows it: agent states, recording statuses,
    failures, pauses' reasons and access log actions in words; any other value as it
    is."""
    lang = lang or language()
    if column == "pauses":
        return _pauses_text(value, lang)
    prefix = VALUE_TEXTS.get(column)
    return _value_text(prefix, value, lang) if prefix else str(value)


def _is_duration(column: str) -> bool:
    return column.endswith("_s")


def language() -> str:
    """The session's language ("zh" or "en"); "en" outside a Streamlit session."""
    try:
        lang = st.session_state.get(SESSION_KEY)
    except Exception:  # no script run context (a unit test, a CLI)
        return "en"
    return lang if lang in LANGUAGES else "en"


def t(key: str, *, lang: str | None = None, **params: Any) -> str:
    """`key`'s text in `lang` (default: the session's), formatted with `params`.
    KeyError for a key not in CATALOG."""
    text = CATALOG[key][lang or language()]
    return text.format(**params) if params else text


def column_label(column: str, lang: str | None = None) -> str:
    """A column's human name with its unit; the raw name when the catalog has none
    (tests/dashboards/test_i18n.py fails on that)."""
    entry = CATALOG.get(f"col.{column}")
    return entry[lang or language()] if entry else column


def state_label(state: str, lang: str | None = None) -> str:
    """An agent state as supervisors say it ("talking" -> "Talking" / "通话中")."""
    return _value_text("state", state, lang or language())


def _formatter(column: str, series: pd.Series, lang: str) -> Callable[[Any], str] | None:
    if column in PERCENT_COLUMNS:
        return fmt_pct
    if _is_duration(column) and pd.api.types.is_numeric_dtype(series):
        return lambda v: fmt_duration(v, lang)
    if column == "pauses" or column in VALUE_TEXTS:
        return lambda v: value_text(column, v, lang)
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_integer_dtype(series):
        return fmt_int
    if pd.api.types.is_float_dtype(series):
        return fmt_number
    return None


def styled(
    df: pd.DataFrame,
    lang: str | None = None,
    *,
    relabel: bool = False,
    cell_css: Mapping[str, Callable[[Any], str]] | None = None,
) -> Any:
    """`df` as a pandas Styler whose cells read well (1,234; 87.5 %; 2:05; states in
    words); the data under it is unchanged. `relabel`: the columns renamed to their
    labels (st.table, which takes no column_config). `cell_css`: column -> a function of
    a cell's value giving its CSS ("" for none), e.g. a threshold's colour."""
    lang = lang or language()
    formats = {c: f for c in df.columns if (f := _formatter(str(c), df[c], lang)) is not None}
    names = {c: column_label(str(c), lang) if relabel else c for c in df.columns}
    style = df.rename(columns=names).style.format(
        {names[c]: f for c, f in formats.items()}, na_rep=MISSING
    )
    for column, css in (cell_css or {}).items():
        if column in names:
            style = style.map(css, subset=[names[column]])
    return style


def table_columns(
    df: pd.DataFrame, timezone: str | None = None, lang: str | None = None
) -> dict[str, Any]:
    """The `column_config` of `st.dataframe(df)`: every column's label (with its unit);
    datetimes shown in `timezone` to the second."""
    lang = lang or language()
    config: dict[str, Any] = {}
    for c in df.columns:
        label = column_label(str(c), lang)
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            config[str(c)] = st.column_config.DatetimeColumn(
                label, format="YYYY-MM-DD HH:mm:ss", timezone=timezone
            )
        else:
            config[str(c)] = st.column_config.Column(label)
    return config


def labelled(df: pd.DataFrame, lang: str | None = None) -> pd.DataFrame:
    """`df` with its columns renamed to their labels (st.table and charts)."""
    lang = lang or language()
    return df.rename(columns={c: column_label(str(c), lang) for c in df.columns})


def _valid(lang: object) -> str | None:
    return lang if isinstance(lang, str) and lang in LANGUAGES else None


def start_session(default: str) -> str:
    """Once per run, before anything is drawn: the session's language, set on its
    first run from the URL's ?lang= or else `default` (the settings' language)."""
    lang = _valid(st.session_state.get(SESSION_KEY))
    if lang is None:
        lang = _valid(st.query_params.get(QUERY_PARAM)) or _valid(default) or LANGUAGES[0]
        st.session_state[SESSION_KEY] = lang
    return lang


def _logged_in_user() -> str | None:
    who = st.session_state.get("supervisor")
    return str(who.username) if who is not None else None


def _resend_widget_values() -> None:
    """A choice box keeps showing the option text it was given when its value was set
    (in the old language): setting each widget's value again makes the browser take
    the new texts. Only plain values are set again (text, numbers, dates, lists of
    them): yes/no ones may be buttons', which cannot be set, and others (a dataframe's
    selection, objects kept by pages) are no choice box's."""
    for key in list(st.session_state):
        value = st.session_state[key]
        if key in (SESSION_KEY, WIDGET_KEY) or isinstance(value, bool):
            continue
        if isinstance(value, str | int | float | date | list | tuple):
            st.session_state[key] = value


def _switched(store: LanguagePreferences | None) -> None:
    lang = _valid(st.session_state.get(WIDGET_KEY))
    if lang is None:
        return
    st.session_state[SESSION_KEY] = lang
    st.query_params[QUERY_PARAM] = lang
    _resend_widget_values()
    user = _logged_in_user()
    if store is not None and user is not None:
        try:
            store.set(user, lang)
        except PreferencesFileError as exc:
            st.session_state["lang_not_saved"] = str(exc)


def language_switch(store: LanguagePreferences | None) -> str:
    """The sidebar's language switch; a choice holds for the session and the URL, and,
    once a supervisor is logged in, is remembered for that username in `store`."""
    # The widget shows the session's language even when a login has just changed it.
    st.session_state[WIDGET_KEY] = language()
    st.sidebar.radio(
        t("lang.label"),
        LANGUAGES,
        key=WIDGET_KEY,
        horizontal=True,
        format_func=LANGUAGE_NAMES.__getitem__,
        on_change=_switched,
        args=(store,),
    )
    if (problem := st.session_state.pop("lang_not_saved", None)) is not None:
        st.sidebar.warning(t("lang.not_saved", detail=problem))
    return language()


def on_login(store: LanguagePreferences | None, username: str) -> None:
    """After a login: the user's remembered language becomes the session's; a user
    with none remembered keeps the session's, which is remembered for them."""
    if store is None:
        return
    try:
        remembered = store.get(username)
        if remembered is None:
            store.set(username, language())
    except PreferencesFileError as exc:
        st.session_state["lang_not_saved"] = str(exc)
        return
    if remembered is not None:
        st.session_state[SESSION_KEY] = remembered
        st.query_params[QUERY_PARAM] = remembered
