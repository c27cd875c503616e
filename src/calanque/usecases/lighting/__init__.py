"""Street lighting: astronomical switching schedules, fault detection and energy savings.

Pure computations over series read from the temporal history (Streetlight, StreetlightGroup,
StreetlightControlCabinet, StreetlightModel from the Smart Data Models); no I/O here.
"""
