"""Recordings as files: rtpengine's pcap segments of a call turned into one WAV
(stereo: the caller left, the agent right; mono for voicemail), placed on the call's
timeline so a pause is silence and the length is the recording's own (docs/recording.md).

Pure: no process, no store; the recorder service (`recorder/`) runs it.

- `scan_spool` / `read_metadata`: which pcaps in rtpengine's spool are which recording's;
- `convert`: the segments' G.711 RTP as int16 samples on the timeline (`Conversion`);
- `write_wav`: the samples as an 8 kHz WAV, atomically;
- `g711_decode` / `g711_encode`: G.711 (PCMU 0, PCMA 8) as numpy lookup tables, the
  product's one home of the laws (the mixer decodes and encodes with them).
"""

from recording._convert import Conversion, convert
from recording._errors import RecordingFormatError
from recording._g711 import g711_decode, g711_encode
from recording._spool import SegmentFile, read_metadata, scan_spool
from recording._wav import write_wav

__all__ = [
    "Conversion",
    "RecordingFormatError",
    "SegmentFile",
    "convert",
    "g711_decode",
    "g711_encode",
    "read_metadata",
    "scan_spool",
    "write_wav",
]
