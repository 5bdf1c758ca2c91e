"""Experiment configuration: typed schema and the YAML loader."""
