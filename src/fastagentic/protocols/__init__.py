"""Thin protocol views over the pipeline and the run engine."""
