"""One module per Processing algorithm; the provider lists them explicitly."""
