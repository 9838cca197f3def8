"""The chain: the `Chain` port (accounts, blockhashes, send, signature statuses) and its
implementations, and the programs' instructions and account layouts."""
