"""Benchmarks (`make bench`): figures go to bench/results/, never into a timed test."""
