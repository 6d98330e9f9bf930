"""Shared basics: errors, argument validation, paths, the device, reproducibility, the environment record, plots."""
