"""Kamailio's entry point (app_python3). Deliberately thin: see routing/.

app_python3 embeds the system Python, so the project's venv is added here from
HUAAN_SITE_PACKAGES, set by `callcenter up`. Nothing here opens sockets: that
happens per worker, after Kamailio forks (routing._kemi.KemiRouter.child_init).
"""

import os
import site
import sys

site.addsitedir(os.environ["HUAAN_SITE_PACKAGES"])
# The checkout this file belongs to comes first: the venv may point at another checkout
# of the project (a git worktree sharing one venv), whose routing/ would be imported.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from routing.kemi import build_router


def mod_init():  # type: ignore[no-untyped-def]
    return build_router(os.environ["HUAAN_RUNTIME_CONFIG"])
