"""The controller with an arrival claim, as the IVR host will install one: the ACD
driver leaves calls to `CLAIMED_NUMBER` alone (test_handover.py drives them through the
control socket: `answer`, then `enqueue`). Run as `python -m
tests.controller.acd_driver.claiming_controller` with the controller's arguments."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from controller import _app, main
from controller._acd_driver import AcdDriver, sippy_driver
from controller._acd_options import AcdOptions

CLAIMED_NUMBER = "95590"


def claims(cid: str, data: Mapping[str, str]) -> bool:
    return data.get("dialled") == CLAIMED_NUMBER


def claiming_driver(options: AcdOptions) -> AcdDriver:
    driver = sippy_driver(options)
    driver.claim_arrivals(claims)
    return driver


if __name__ == "__main__":
    _app.sippy_driver = claiming_driver  # type: ignore[assignment]
    sys.exit(main())
