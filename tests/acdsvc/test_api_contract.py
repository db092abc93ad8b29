"""The generated stubs match the protos, and the API covers every core refusal code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from acd import ErrorCode
from acd_api.v1 import acd_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_have_not_drifted_from_the_protos(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-proto"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "gen-proto wrote nothing"
    stale = [
        str(rel) for rel in generated if (ROOT / rel).read_text() != (tmp_path / rel).read_text()
    ]
    assert not stale, f"run scripts/gen-proto and commit: {stale}"


def test_every_core_error_code_has_a_proto_value() -> None:
    names = set(pb.ErrorCode.keys())
    missing = [c.value for c in ErrorCode if f"ERROR_CODE_{c.value}" not in names]
    assert not missing


def test_buf_style_enums_and_one_message_pair_per_rpc() -> None:
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        zero = enum.values_by_number[0].name
        assert zero.endswith("_UNSPECIFIED"), enum.name
    service = pb.DESCRIPTOR.services_by_name["AcdService"]
    inputs = [m.input_type.name for m in service.methods]
    outputs = [m.output_type.name for m in service.methods]
    assert len(set(inputs)) == len(inputs) and len(set(outputs)) == len(outputs)
    for method in service.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"
    assert pb.DESCRIPTOR.package == "acd.v1"
