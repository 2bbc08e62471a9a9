"""Durable stores: one async interface, one module per backend."""
