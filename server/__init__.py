"""The language server: pygls handlers over per-document GRU state caches (see engine in model/)."""
