"""Offline benchmark: the engine against rembg 2.0.86 on quality, speed, memory and cold start."""
