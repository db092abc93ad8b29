"""The dashboards in Chinese and English: the catalog (every key in both languages, the
same placeholders), the figures' formatting, every page rendered in both languages
under Streamlit's AppTest with no label left untranslated, and the language a
supervisor picks remembered across sessions (and restarts: a new store object on the
same file)."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboards import i18n, queries
from dashboards.i18n import CATALOG, LANGUAGES, fmt_duration, fmt_int, fmt_number, fmt_pct
from dashboards.queries import Backend, CommandResult, RecordingIndex, StoreReports, Supervisor
from tests.dashboards import test_dashboards_app as app_fixtures
from tests.dashboards import test_recordings_page as rec_fixtures

APP = app_fixtures.APP
PAGES = ("wallboard", "reports", "staffing", "supervisor", "recordings")
# ASCII words a Chinese page may show: units and names that are IDs, not English.
ZH_ALLOWED = {"Erlang", "CSV", "IVR", "SL2", "English", "acd"}  # acd.v1: an API
# What the fixtures hold, shown as they are in any language: queue, agent, user, flow
# and node names, call IDs, a recording's name, the live source, a free-text reason.
FIXTURE_DATA = sorted(
    {
        "complaint about the bill",
        "1 of 1 segments missing",  # a failure's detail, in the recorder's words
        "call-stored",
        "call-failed",
        "call-running",
        "vm-call-1",
        "billing",
        "general",
        "outage",
        "balance",
        "menu2",
        "main",
        "lunch",
        "boss",
        "test",
    },
    key=len,
    reverse=True,
)
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


# The catalog.


def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    formatter = string.Formatter()
    for key, texts in CATALOG.items():
        assert set(texts) == set(LANGUAGES), key
        fields = [{f for _, f, _, _ in formatter.parse(texts[lang]) if f} for lang in LANGUAGES]
        assert all(texts.values()), key
        assert fields[0] == fields[1], (key, fields)


def test_chinese_texts_are_chinese_and_english_ones_english() -> None:
    for key, texts in CATALOG.items():
        zh = re.sub(r"\{\w+\}", "", texts["zh"])
        # Config keys named in a message ("recording:") are IDs.
        zh = re.sub(r"\b\w+:(?=\s)", "", zh)
        assert not english_words(zh), (key, texts["zh"])
        assert not CJK.search(texts["en"]), (key, texts["en"])


def test_every_column_of_every_table_has_a_human_name() -> None:
    columns = [
        *queries.AGENT_COLUMNS,
        *queries.QUEUE_COLUMNS,
        *queries.TODAY_COLUMNS,
        "sl_today",
        "abandon_rate_today",
        *queries.RECORDING_COLUMNS,
        *queries.ACCESS_LOG_COLUMNS,
        *queries.IVR_CONTAINMENT_COLUMNS,
        *queries.IVR_DROPOFF_COLUMNS,
        "supervisor",
        *queries.MONITOR_REPORT_COLUMNS,
        *queries.MONITOR_COLUMNS,
    ]
    for column in columns:
        assert f"col.{column}" in CATALOG, column
    assert i18n.column_label("sl_with_abandoned", "en") == "Service level (incl. abandoned) %"
    assert i18n.column_label("sl_with_abandoned", "zh") == "服务水平（含放弃）%"


def test_unknown_key_is_an_error_not_a_key_on_screen() -> None:
    with pytest.raises(KeyError):
        i18n.t("no.such.key", lang="zh")
    assert i18n.t("login.as", lang="zh", user="boss", roles="班长") == "已登录：boss（班长）"


def test_figures_read_well_in_both_languages() -> None:
    assert fmt_int(1234) == "1,234"
    assert fmt_number(1234.56) == "1,234.6"
    assert fmt_pct(0.875) == "87.5 %"
    assert fmt_pct(float("nan")) == fmt_int(None) == fmt_duration(None, "zh") == "—"
    assert (fmt_duration(125, "en"), fmt_duration(125, "zh")) == ("2:05", "2分05秒")
    assert (fmt_duration(42.4, "en"), fmt_duration(42.4, "zh")) == ("0:42", "42秒")
    assert (fmt_duration(3725, "en"), fmt_duration(3725, "zh")) == ("1:02:05", "1小时02分05秒")
    assert i18n.value_text("state", "reserved", "zh") == "振铃中"
    assert i18n.value_text("failure", "missing: 1 of 1 segments missing", "zh") == (
        "录音片段缺失: 1 of 1 segments missing"
    )
    assert i18n.value_text("pauses", "0:12.0–0:15.5 agent; 0:20.0–… sensitive", "zh") == (
        "0:12.0–0:15.5 座席暂停; 0:20.0–… 敏感信息"
    )
    assert i18n.value_text("queue", "billing", "zh") == "billing"  # data stays


# Every page, in both languages.


class AllCommands(app_fixtures.RecordingCommands):
    """The supervisor actions and the voicemail, so that every part of the Supervisor
    page is drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.voicemail = rec_fixtures.VoicemailCommands(rec_fixtures.small_wav(0.1))

    def list_voicemail(
        self, actor: Supervisor, box: str = "", include_heard: bool = False
    ) -> CommandResult:
        return self.voicemail.list_voicemail(actor, box, include_heard)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingIndex]:
    url, wav_dir = rec_fixtures.seed(tmp_path_factory.mktemp("i18n_recordings"))
    index = RecordingIndex(url, wav_dir)
    yield index


store = app_fixtures.store  # the chDB store with the fixture day's calls


@pytest.fixture
def backend(store: Any, recordings: RecordingIndex) -> Iterator[Backend]:
    b = Backend(
        reports=StoreReports(store),
        live=app_fixtures.FixedLive(),
        accounts=rec_fixtures.ACCOUNTS,
        commands=AllCommands(),  # type: ignore[arg-type]
        timezone="UTC",
        clock=lambda: app_fixtures.NOW,
        recordings=recordings,
    )
    queries.set_backend(b)
    yield b
    queries.set_backend(None)


def english_words(text: str) -> list[str]:
    for data in FIXTURE_DATA:
        text = text.replace(data, " ")
    words = re.findall(r"[A-Za-z][A-Za-z0-9_]+", text)
    # Words with digits are IDs (agents a1, nodes menu2, refs in hex).
    return [w for w in words if w not in ZH_ALLOWED and not re.search(r"\d", w)]


def rendered_texts(at: AppTest) -> list[str]:
    """Every text a user reads on the page: headings, notes, metrics, widgets' labels
    and options, buttons, tables' and dataframes' column headers."""
    texts: list[str] = []
    for kind in ("title", "header", "subheader", "caption", "info", "warning", "error", "success"):
        texts += [str(e.value) for e in at.get(kind)]
    for m in at.metric:
        texts += [m.label, str(m.value), m.proto.delta]
    for kind in (
        "button",
        "download_button",
        "text_input",
        "number_input",
        "date_input",
        "slider",
        "checkbox",
        "radio",
        "selectbox",
        "multiselect",
        "expander",
    ):
        for w in at.get(kind):
            texts.append(str(w.label) if kind != "expander" else str(w.proto.label))
            # A box's placeholder: unset, the browser shows Streamlit's English default
            # ("Choose options"), so a multiselect must set one of ours.
            texts.append(str(getattr(w.proto, "placeholder", "")))
            assert kind != "multiselect" or w.proto.placeholder, f"{w.label}: no placeholder"
            texts += [str(o) for o in getattr(w, "options", [])]
    for table in at.table:
        texts += [str(c) for c in table.value.columns]
    texts += dataframe_labels(at)
    texts += navigation_titles(at)
    return [t for t in texts if t]


def navigation_titles(at: AppTest) -> list[str]:
    """The sidebar's page titles, as st.navigation registered them (AppTest keeps them
    in a private map: no public accessor in Streamlit 1.67)."""
    pages: dict[str, dict[str, Any]] = at._registered_pages
    titles = [str(info["page_name"]) for info in pages.values() if info.get("page_name")]
    assert len(titles) == len(PAGES), pages
    return titles


def dataframe_labels(at: AppTest) -> list[str]:
    """The header of each st.dataframe: every column must have a label of ours."""
    labels = []
    for frame in at.dataframe:
        config = json.loads(frame.proto.columns or "{}")
        for column in frame.value.columns:
            label = config.get(str(column), {}).get("label")
            assert label, f"column {column!r} shown without a label"
            labels.append(label)
    return labels


def rendered(page: str, lang: str) -> AppTest:
    if page == "recordings":  # the recordings fixture's day, not the CDRs'
        queries.backend().clock = lambda: rec_fixtures.NOW
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["lang"] = lang
    at.run()
    if page != "wallboard":
        at.switch_page(f"app_pages/{page}.py").run()
    if page in ("supervisor", "recordings"):
        at.text_input(key="login_user").input("boss")
        at.text_input(key="login_password").input(rec_fixtures.PASSWORDS["boss"])
        at.button[0].click().run()
    if page == "recordings":  # the failed one: its failure and the access log drawn
        at.selectbox(key="rec_ref").set_value(rec_fixtures.FAILED).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", PAGES)
def test_page_in_chinese_has_no_english_label(backend: Backend, page: str) -> None:
    at = rendered(page, "zh")
    texts = rendered_texts(at)
    assert len(texts) > 5, texts
    leftovers = {text: words for text in texts if (words := english_words(text))}
    assert not leftovers, leftovers
    labels = {v["zh"] for v in CATALOG.values()}
    for table in at.table:
        assert set(map(str, table.value.columns)) <= labels
    assert set(dataframe_labels(at)) <= labels


@pytest.mark.parametrize("page", PAGES)
def test_page_in_english_has_no_chinese_or_raw_name(backend: Backend, page: str) -> None:
    at = rendered(page, "en")
    texts = rendered_texts(at)
    chinese = [t for t in texts if CJK.search(t) and t != i18n.LANGUAGE_NAMES["zh"]]
    assert not chinese, chinese
    # A raw column or key name (snake_case) is a label nobody translated.
    raw = [t for t in texts if re.search(r"\b[a-z]+_[a-z_]+\b", t)]
    assert not raw, raw
    labels = {v["en"] for v in CATALOG.values()}
    for table in at.table:
        assert set(map(str, table.value.columns)) <= labels
    assert set(dataframe_labels(at)) <= labels


def test_wallboard_language_from_the_address(backend: Backend) -> None:
    # A wall display's bookmark (?lang=en) keeps its language without a login.
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "en"
    at.run()
    assert at.title[0].value == "Wallboard"
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.title[0].value == "实时看板"  # the settings' default: zh


# The choice, remembered per user.


def log_in(at: AppTest, user: str) -> AppTest:
    at.text_input(key="login_user").input(user)
    at.text_input(key="login_password").input(rec_fixtures.PASSWORDS[user])
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_a_supervisors_language_is_remembered_across_sessions(
    backend: Backend, tmp_path: Path
) -> None:
    path = tmp_path / "data" / "dashboard-preferences.json"
    backend.preferences = i18n.LanguagePreferences(path, LANGUAGES)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/supervisor.py").run()
    log_in(at, "boss")
    assert at.title[0].value == "班长操作"
    at.radio(key="lang_switch").set_value("en").run()
    assert at.title[0].value == "Supervisor"
    assert json.loads(path.read_text()) == {"boss": "en"}
    # A new browser session, and a restarted dashboard (a new store on the same file):
    # the page starts in the default language, boss's login brings English back.
    backend.preferences = i18n.LanguagePreferences(path, LANGUAGES)
    again = AppTest.from_file(APP, default_timeout=60).run()
    again.switch_page("app_pages/supervisor.py").run()
    assert again.title[0].value == "班长操作"
    log_in(again, "boss")
    assert again.title[0].value == "Supervisor"
    assert again.radio(key="lang_switch").value == "en"
    # root never chose: the session's language stays, and is remembered for root.
    other = AppTest.from_file(APP, default_timeout=60).run()
    other.switch_page("app_pages/recordings.py").run()
    log_in(other, "root")
    assert other.title[0].value == "录音"
    assert json.loads(path.read_text()) == {"boss": "en", "root": "zh"}


def test_the_preferences_file_is_written_atomically_and_never_clobbered(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prefs.json"
    store = i18n.LanguagePreferences(path, LANGUAGES)
    assert store.get("boss") is None
    store.set("boss", "en")
    store.set("王芳", "zh")
    assert i18n.LanguagePreferences(path, LANGUAGES).get("王芳") == "zh"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prefs.json", "prefs.json.lock"]
    with pytest.raises(ValueError, match="fr"):
        store.set("boss", "fr")
    broken = '{"boss": "en",\n  oops}'
    path.write_text(broken)
    with pytest.raises(i18n.PreferencesFileError, match=r"prefs\.json: line 2: not JSON"):
        store.set("boss", "zh")
    assert path.read_text() == broken  # what was there is kept for a human to fix


def test_a_switch_keeps_the_chosen_option_and_words_it_anew(backend: Backend) -> None:
    queries.backend().clock = lambda: rec_fixtures.NOW
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["lang"] = "en"
    at.run()
    at.switch_page("app_pages/recordings.py").run()
    log_in(at, "boss")
    at.selectbox(key="rec_ref").set_value(rec_fixtures.FAILED).run()
    assert at.selectbox(key="rec_ref").options[1].endswith("· failed")
    at.radio(key="lang_switch").set_value("zh").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="rec_ref")
    assert box.value == rec_fixtures.FAILED  # still the one chosen
    assert box.options[1].endswith("· 失败")
    assert at.button(key="rec_play").label == "播放"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("language: fr", "x.yaml:4: dashboards.language: Input should be 'zh' or 'en'"),
        (
            "service_level_target_pct: 120",
            "x.yaml:4: dashboards.service_level_target_pct: Input should be less than or "
            "equal to 100",
        ),
        ("longest_wait_alert_s: 0", "x.yaml:4: dashboards.longest_wait_alert_s: Input should "),
    ],
)
def test_the_dashboards_language_and_thresholds_are_checked(line: str, expected: str) -> None:
    from configuration import ConfigError, parse_config

    text = "version: 1\nrtpengine: {nodes: [{ng: 127.0.0.1:2223}]}\ndashboards:\n  " + line
    with pytest.raises(ConfigError) as err:
        parse_config(text + "\n", "x.yaml")
    assert str(err.value).startswith(expected), err.value
    config = parse_config(text.replace(line, "language: en") + "\n", "x.yaml")
    assert config.dashboards is not None and config.dashboards.language == "en"


def test_callcenter_writes_the_language_preferences_and_thresholds(tmp_path: Path) -> None:
    import yaml

    from callcenter._stack import layout_for, write_runtime_config
    from configuration import load_config
    from dashboards import DashboardSettings
    from dashboards.queries import backend_from_settings

    config = {
        "version": 1,
        "node": {"name": "dash", "run_dir": str(tmp_path / "run")},
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223", "managed": False}]},
        "dashboards": {
            "managed": False,
            "language": "en",
            "service_level_target_pct": 90,
            "longest_wait_alert_s": 30,
        },
    }
    path = tmp_path / "callcenter.yaml"
    path.write_text(yaml.safe_dump(config))
    layout = layout_for(load_config(path), tmp_path)
    layout.create()
    write_runtime_config(load_config(path), layout)
    settings = DashboardSettings.model_validate_json(layout.dashboard_settings.read_text())
    assert settings.preferences_file == str(
        tmp_path / "run" / "data" / "dashboard-preferences.json"
    )
    b = backend_from_settings(settings)
    assert (b.language, b.service_level_target_pct, b.longest_wait_alert_s) == ("en", 90, 30)
    assert b.preferences is not None and b.preferences.path == Path(settings.preferences_file)
