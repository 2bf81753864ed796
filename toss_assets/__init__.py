"""Dagster wiring for toss: assets, checks, jobs, schedule and sensor over toss_core.steps.

The code location is toss_assets.definitions; no modelling logic lives in this package.
"""
