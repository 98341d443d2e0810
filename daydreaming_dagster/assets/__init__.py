"""Dagster assets: thin wrappers over the cohort functions and the generation engine."""
