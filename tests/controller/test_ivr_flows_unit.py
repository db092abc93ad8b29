"""`FlowLibrary`: the flows directory loaded, watched and reloaded, with a stand-in
loader (a flow file here is `name: X` and `version: N`; `bad` in it fails the load with
a file:line message, as the interpreter's loader does)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller._ivr_flows import FlowLibrary, FlowLoadError
from controller._ivr_ports import FlowEntry


class FlowError(Exception):
    pass


def load(path: Path) -> FlowEntry:
    fields: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if "bad" in line:
            raise FlowError(f"{path}:{number}: node menu: {line.strip()}")
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return FlowEntry(fields["name"], object(), fields.get("version", "1"), str(path))


def write(path: Path, text: str) -> None:
    """Rewrite `path` so its inode changes (as editors and `cp` over it often do)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "ivr"
    directory.mkdir()
    (directory / "hotline.yaml").write_text("name: hotline\nversion: 1\n")
    (directory / "survey.yaml").write_text("name: survey\nversion: 1\n")
    (directory / "notes.txt").write_text("not a flow\n")
    return directory


def versions(library: FlowLibrary) -> dict[str, str]:
    return {name: entry.version for name, entry in library.flows.items()}


def test_every_yaml_file_is_a_flow(flows_dir: Path) -> None:
    library = FlowLibrary(flows_dir, load, required={"hotline": "number 95598"}).load()
    assert versions(library) == {"hotline": "1", "survey": "1"}
    assert library.describe()["flows"] == [
        {"name": "hotline", "version": "1", "file": str(flows_dir / "hotline.yaml")},
        {"name": "survey", "version": "1", "file": str(flows_dir / "survey.yaml")},
    ]


def test_a_bad_flow_or_a_missing_required_one_refuses_the_start(flows_dir: Path) -> None:
    (flows_dir / "broken.yaml").write_text("name: broken\nbad: menu without choices\n")
    with pytest.raises(FlowLoadError) as caught:
        FlowLibrary(flows_dir, load, required={"outage": "number 95590"}).load()
    text = str(caught.value)
    assert f"{flows_dir / 'broken.yaml'}:2: node menu" in text
    assert "no flow 'outage' (number 95590 needs it)" in text
    with pytest.raises(FlowLoadError, match="does not exist"):
        FlowLibrary(flows_dir / "nope", load).load()


def test_a_changed_flow_replaces_the_old_one(flows_dir: Path) -> None:
    library = FlowLibrary(flows_dir, load).load()
    old = library.flows
    assert library.check() is False
    write(flows_dir / "hotline.yaml", "name: hotline\nversion: 2\n")
    assert library.check() is True
    assert versions(library) == {"hotline": "2", "survey": "1"}
    assert old["hotline"].version == "1"  # what a call in the flow holds is untouched
    assert library.reloads == 1


def test_a_bad_change_is_refused_once_and_the_old_flow_stays(
    flows_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    library = FlowLibrary(flows_dir, load).load()
    write(flows_dir / "hotline.yaml", "name: hotline\nversion: 3\nbad: retries -1\n")
    assert library.check() is False
    assert versions(library)["hotline"] == "1"
    error = library.describe()["last_reload_error"]
    assert error == f"{flows_dir / 'hotline.yaml'}:3: node menu: bad: retries -1"
    assert [r.levelname for r in caplog.records if "refused" in r.getMessage()] == ["ERROR"]
    assert library.check() is False  # not reported again every second
    assert library.refused == 1
    write(flows_dir / "hotline.yaml", "name: hotline\nversion: 4\n")
    assert library.check() is True and versions(library)["hotline"] == "4"


def test_new_and_removed_files(flows_dir: Path) -> None:
    library = FlowLibrary(flows_dir, load, required={"hotline": "number 95598"}).load()
    (flows_dir / "outage.yaml").write_text("name: outage\n")
    (flows_dir / "survey.yaml").unlink()
    assert library.check() is True
    assert set(library.flows) == {"hotline", "outage"}
    (flows_dir / "hotline.yaml").unlink()  # a number needs it: it stays
    assert library.check() is False
    assert "hotline" in library.flows
    assert "still needed (number 95598)" in str(library.last_error)
    (flows_dir / "hotline.yaml").write_text("name: hotline\nversion: 5\n")
    assert library.check() is True and versions(library)["hotline"] == "5"


def test_a_name_two_files_give_stays_with_the_file_that_had_it(flows_dir: Path) -> None:
    library = FlowLibrary(flows_dir, load).load()
    (flows_dir / "a-copy.yaml").write_text("name: hotline\nversion: 9\n")
    library.check()
    assert library.flows["hotline"].file == str(flows_dir / "hotline.yaml")
    assert "flow name 'hotline' is already" in str(library.last_error)


def test_an_edit_that_keeps_the_inode_is_seen_too(flows_dir: Path) -> None:
    library = FlowLibrary(flows_dir, load).load()
    path = flows_dir / "survey.yaml"
    path.write_text("name: survey\nversion: 22\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert library.check() is True and versions(library)["survey"] == "22"
