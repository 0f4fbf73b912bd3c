"""Models: the registry of known models, the model cache, and the encoders built on them."""
