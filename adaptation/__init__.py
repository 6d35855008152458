"""Adaptation of a base model to Russian: tokenizer, embeddings, SFT, GRPO, DPO."""
