"""Street lighting: astronomical switching schedules, fault detection and energy savings.

``schedule``, ``faults`` and ``energy`` are pure computations over series (Streetlight,
StreetlightGroup, StreetlightControlCabinet, StreetlightModel from the Smart Data Models);
``assets`` reads the stored entities, ``api`` serves /api/v1/lighting and ``usecase`` declares
the use case.
"""
