"""Decoders: photos (Pillow), video frames (PyAV), sound (soundfile / PyAV). They raise DecodeError."""
