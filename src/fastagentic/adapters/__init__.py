"""Adapters turn a framework's agent into a stream of unified run events."""
