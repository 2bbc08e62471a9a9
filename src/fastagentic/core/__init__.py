"""The core: specs, registry, events, run engine, pipeline and context.

Nothing here imports a web framework, a store driver or an agent framework.
"""
