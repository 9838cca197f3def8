"""Pure domain model: orders, lifecycle, tokens, quotes, routing and the error tree.

Imports only the standard library (checked by import-linter).
"""
