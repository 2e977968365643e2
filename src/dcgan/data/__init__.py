"""Data: sources (readers) -> store (packed uint8, decoded once) -> batches."""
