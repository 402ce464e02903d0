"""Benchmark helpers shared by ``brightline bench`` and the scripts in bench/ (faiss is imported lazily)."""
