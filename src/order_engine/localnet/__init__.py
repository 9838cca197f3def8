"""`order-engine localnet`: the in-process chain (the real programs in LiteSVM, the slot
clock, the journal, the background market) served over Solana's JSON-RPC 2.0, for every
process and client that speaks it (`solana-py`, `@solana/web3.js`, the Solana CLI,
`order-engine programs fetch`).

`node` opens the chain as the embedded engine does; `jsonrpc` is the envelope; `cluster`,
`accounts`, `transactions` and `tx_details` answer the methods with solders' response
types; `app` is the ASGI app (`localnet_app`) and `command` the CLI command, which imports
the rest only when it runs. Nothing is imported here, so the CLI stays quick to start."""
