"""The HTTP side of livevision's pages: the server (routes, token, TLS) and its addresses."""
