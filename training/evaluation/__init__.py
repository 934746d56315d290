"""Evaluation: `grucomplete eval`, held-out queries answered the way the editor gets them."""
