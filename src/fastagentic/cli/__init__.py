"""The ``fastagentic`` command line."""
