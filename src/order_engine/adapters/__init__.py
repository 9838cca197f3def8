"""Adapters: the store, queue and event bus implementations of the engine's ports."""
