"""The IVR's part of the config: where the flows are, and what a number does out of hours.

```yaml
ivr:
  flows_dir: ivr              # every *.yaml there is a flow; relative to the config file
numbers:
  - number: "95598"
    category: billing
    target: controller
    ivr: hotline              # the flow (with or instead of `queue`)
    hours: office             # a name in `schedules:`
    closed:                   # out of hours: an announcement per language...
      zh: 现在是非工作时间，请在工作日八点半到五点半之间来电。
      en: We are closed. Please call on a working day between 8:30 and 17:30.
    # closed: {voicemail: billing}   # ...or a voicemail box
```
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from ._fields import StrictModel

__all__ = ["ClosedSpec", "FlowName", "IvrSection", "ScheduleName"]

# A flow's name (its file's `name:`) and a schedule's name (a key of `schedules:`).
FlowName = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")]
ScheduleName = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")]
BoxName = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")]
Announcement = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class IvrSection(StrictModel):
    """The IVR the call controllers host (docs/call-control.md, "IVR")."""

    # Relative to the config file; `load_config` makes it absolute.
    flows_dir: str = "ivr"
    # How long an IVR call's state stays in Redis if nobody deletes it (its replica
    # died): longer than any call spends in a flow.
    state_ttl_ms: int = Field(3_600_000, ge=1_000)


class ClosedSpec(StrictModel):
    """Out of a number's hours: an announcement in one or both languages (Mandarin
    first, then English; then the call ends), or a voicemail box."""

    zh: Announcement | None = None
    en: Announcement | None = None
    voicemail: BoxName | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ClosedSpec:
        texts = self.zh is not None or self.en is not None
        if self.voicemail is not None and texts:
            raise ValueError("closed: an announcement (zh, en) or voicemail, not both")
        if self.voicemail is None and not texts:
            raise ValueError("closed: give an announcement (zh and/or en) or voicemail: BOX")
        return self
