"""Use cases: `OrderService` for the API, `OrderExecutor` for workers, and the ports."""
