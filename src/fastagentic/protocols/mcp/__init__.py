"""MCP view: one dispatcher over the registry, transports below it (HTTP, stdio)."""
