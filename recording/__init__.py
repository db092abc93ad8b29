"""Recordings as files: rtpengine's pcap segments of a call turned into one WAV
(stereo: the caller left, the agent right; mono for voicemail), placed on the call's
timeline so a pause is silence and the length is the recording's own (docs/recording.md).

Pure: no process, no store; the recorder service (`recorder/`) runs it.
"""

__all__: list[str] = []
