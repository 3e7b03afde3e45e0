"""satlock: lock and sync Python projects, including source packages that need a prepared build environment."""

__version__ = "0.1.0"
