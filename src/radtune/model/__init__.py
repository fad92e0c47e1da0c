"""Base models: the tiny offline Gemma 3 builder (tiny) and loading (load)."""
