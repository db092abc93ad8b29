"""The one error of the package: a file that is ours but cannot be read as it should."""

from __future__ import annotations


class RecordingFormatError(ValueError):
    """A metadata file or pcap that belongs to a recording but is broken: the message
    names the file, where in it (line or byte offset) and what is wrong."""
