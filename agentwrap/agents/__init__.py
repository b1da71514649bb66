"""One module per agent CLI: how to point it at the proxy, and its step hints."""
