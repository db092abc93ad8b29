"""Where the installed tools are: the daemons `callcenter up` starts, Kamailio's modules."""

from __future__ import annotations

import glob
import shutil
import sysconfig
from pathlib import Path

__all__ = ["kamailio_module_path", "require_binary", "venv_site_packages"]


def kamailio_module_path() -> str:
    """Debian puts modules under the multiarch triplet; find them rather than assume it."""
    for pattern in (
        "/usr/lib/*/kamailio/modules",
        "/usr/lib/kamailio/modules",
        "/usr/local/lib*/kamailio/modules",
    ):
        for candidate in sorted(glob.glob(pattern)):
            if Path(candidate, "tm.so").exists():
                return candidate
    raise FileNotFoundError("Kamailio modules not found; run scripts/install")


def venv_site_packages() -> str:
    # The venv this code runs from; Kamailio's embedded interpreter adds it to sys.path.
    return sysconfig.get_paths()["purelib"]


def require_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise FileNotFoundError(f"{name} is not installed; run scripts/install")
    return path
