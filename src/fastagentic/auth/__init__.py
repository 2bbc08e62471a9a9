"""Authentication: who is calling, on every transport."""
