"""Where the repository is, and where a failed test's files are kept."""

from __future__ import annotations

import re
from pathlib import Path

# The checkout: daemons started from source run with it as cwd and PYTHONPATH.
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def artifact_dir(node_id: str) -> Path:
    """The folder under test-artifacts/ for a test's (pytest node ID's) kept files."""
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", node_id)
