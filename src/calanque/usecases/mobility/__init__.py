"""Bike and pedestrian counting: count analytics and the French national open-data exchange.

* :mod:`.counts` computes calendar totals, weekly profiles, year-on-year comparisons and
  the totem display from interval counts (``TrafficFlowObserved`` for bikes,
  ``CrowdFlowObserved`` for pedestrians).
* :mod:`.frschema` exports and imports the CSV files of the national schema
  "comptage des mobilités" (site, channel, measure).

Counters count passages; they never identify anyone.
"""
