"""Test doubles that run the real engine (like inspect_ai's mock provider): a scripted provider, a
mock Dagster LLM resource, a fake OpenAI-compatible server and sample data roots.

Used by ``tests/`` and ``bench/``; never imported by the product's own code paths (a test checks it).
"""
