"""Embeddings for a merged vocabulary: initialise new rows, train them with old rows frozen, then unfreeze."""
