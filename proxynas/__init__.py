"""proxynas: rank neural architectures by training them on condensed proxy datasets."""

__version__ = "0.1.0"
