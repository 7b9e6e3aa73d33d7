"""Benchmarks of speed and memory: `python -m bench [NAME ...]` (or `make bench`).

Each benchmark prints a table and writes `bench/results/<name>.json` with the
machine, the package versions and the figures. Nothing here is a test: the
numbers are for reading, never asserted.
"""
