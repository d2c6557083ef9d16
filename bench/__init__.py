"""Benchmarks: one script per measure, each runnable alone; bench/run_all.py runs them all."""
