"""Training: walk a source tree, tokenize it, train the GRU language model, write a checkpoint."""
