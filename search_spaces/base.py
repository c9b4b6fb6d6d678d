"""The space contract moved to :mod:`proxynas.spaces`; this name stays for code that imports it here."""

from proxynas.spaces import Candidate, SearchSpace, StackBuilder

__all__ = ["Candidate", "SearchSpace", "StackBuilder"]
