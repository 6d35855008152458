"""Qwen-compatible byte-level BPE tokenizers: train, prune, merge, measure density."""
