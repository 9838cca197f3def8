"""Venues on the chain: the real Raydium CPMM and Meteora DLMM programs."""
