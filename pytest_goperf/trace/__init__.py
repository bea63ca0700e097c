from .reader import TraceReader
