"""Figures as the pages show them: counts with thousands separators, ratios as
percentages, seconds as clock durations. Pure functions of a value and a language
("zh" or "en"); missing figures (None, NaN) read "—"."""

from __future__ import annotations

import math

MISSING = "—"
# The dashboards' languages (dashboards/i18n.py has their texts).
LANGUAGES = ("zh", "en")


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def fmt_int(value: object) -> str:
    """1234 -> "1,234" (both languages group by thousands on screens)."""
    if _missing(value):
        return MISSING
    return f"{round(float(value)):,}"  # type: ignore[arg-type]


def fmt_number(value: object, digits: int = 1) -> str:
    """A measured figure: 1234.56 -> "1,234.6"."""
    if _missing(value):
        return MISSING
    return f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


def fmt_pct(ratio: object, digits: int = 1) -> str:
    """A ratio 0..1 as a percentage: 0.875 -> "87.5 %"."""
    if _missing(ratio):
        return MISSING
    return f"{float(ratio) * 100:.{digits}f} %"  # type: ignore[arg-type]


def fmt_duration(seconds: object, lang: str) -> str:
    """Seconds as a duration, rounded to the second: 125 -> "2:05" / "2分05秒";
    3725 -> "1:02:05" / "1小时02分05秒"; 42 -> "0:42" / "42秒"."""
    if _missing(seconds):
        return MISSING
    total = max(0, round(float(seconds)))  # type: ignore[arg-type]
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if lang == "zh":
        if hours:
            return f"{hours}小时{minutes:02d}分{secs:02d}秒"
        if minutes:
            return f"{minutes}分{secs:02d}秒"
        return f"{secs}秒"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
