"""Waste collection: fill levels, emptyings, fill forecasts, collection rounds and incidents.

Pure computations over series read from the temporal history (WasteContainer,
WasteContainerModel, WasteContainerIsle from the Smart Data Models); no I/O here.
"""
