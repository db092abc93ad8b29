"""The recorder service (`python -m recorder`): beside each rtpengine host it turns
finished recordings into WAV files, keeps their index in the business store, reports
missing and failed ones loudly, deletes what is past retention, and stores voicemail
messages (docs/recording.md).
"""

__all__: list[str] = []
