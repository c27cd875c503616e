"""Tools for developers, tests and benchmarks (never needed to run the platform)."""
