"""The command-line client of a running engine: `order-engine submit`, `orders`, `order`,
`cancel` and `quote`.

`connection` speaks HTTP and the order stream (WebSocket) to any engine URL with an API
key; `progress` renders an order's lifecycle one line per step; `views` renders orders,
one order and quotes; `commands` registers the commands and maps outcomes to exit codes."""
