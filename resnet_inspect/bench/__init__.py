"""How fast it runs: devices, hardware peaks, timing, statistics."""
