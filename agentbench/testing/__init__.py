"""Test doubles for fault injection and benchmarks (never used by a real run)."""
