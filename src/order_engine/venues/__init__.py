"""Venues: the `Venue` protocol and the simulated Raydium and Meteora venues."""
