"""Training-free node embeddings (issue 9): FastRP."""
