"""goimglint: will the Go binaries in this container image start, and what will bite them."""

__version__ = "0.1.0"
