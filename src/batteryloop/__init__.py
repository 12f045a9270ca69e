"""batteryloop: the EU battery passport registry and the Dutch battery strategy as software."""

__version__ = "0.1.0"
