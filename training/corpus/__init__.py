"""The corpus: pinned source distributions, their licence checks, and walking source trees."""
