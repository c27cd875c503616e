"""The use cases: one folder each, declaring what it adds to the platform."""
