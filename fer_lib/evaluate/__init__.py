"""Evaluation: one predictions format, statistics, confusion analysis."""
