"""The one exception callers of the prompt renderer need to catch."""

from __future__ import annotations


class PromptError(Exception):
    """A prompt that cannot be rendered: bad input, or espeak-ng/sox missing or failing.

    One class, because the ACD's reaction is the same for all of them: log the
    message and play nothing (or a stock prompt) rather than drop the call.
    """
