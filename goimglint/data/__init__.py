"""Data files shipped with goimglint (Go release table, GODEBUG keys)."""
