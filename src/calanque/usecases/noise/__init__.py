"""Noise use case: environmental noise indicators (LAeq, Lden, percentile levels) from LAeq series."""
