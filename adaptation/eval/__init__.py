"""Evaluation: perplexity, function-calling and math accuracy, tokenizer density."""
