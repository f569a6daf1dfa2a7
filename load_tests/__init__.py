"""Benchmarks of the helpstream pipeline against raw baselines (see load_tests/README.md)."""
