"""The simulated venues of the product description (`VENUES=sim`): Python pool models, a
swap ledger standing in for the chain, reference market prices and simulated launches.
Only the simulated wiring imports this package; the engine is typed on `venues.base.Venue`."""
