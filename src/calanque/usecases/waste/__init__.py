"""Waste collection: fill levels, emptyings, fill forecasts, collection rounds and incidents.

``fill``, ``forecast``, ``routing`` and ``incidents`` are pure computations over series
(WasteContainer, WasteContainerModel, WasteContainerIsle from the Smart Data Models); ``containers``
reads the stored entities, ``enrichment`` derives fillingLevel and dateLastEmptying at ingestion,
``api`` serves /api/v1/waste and ``usecase`` declares the use case.
"""
