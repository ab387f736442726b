"""Tessera's benchmarks: `make bench` runs them all and writes bench/RESULTS.md."""
