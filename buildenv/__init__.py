"""Environments made from a lock: build environments, PEP 517 calls, the built-wheel cache, CUDA_HOME and the project .venv."""
