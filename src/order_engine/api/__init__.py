"""The HTTP and WebSocket surface; maps domain errors to status codes."""
