"""Training: the token cache, the train loop, checkpoints, fine-tuning and workspace adaptation."""
