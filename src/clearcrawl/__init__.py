"""clearcrawl: make web crawls safe to train AI models on."""

__version__ = "0.1.0"
