"""Why a model build stopped; the command line prints these without a traceback."""


class BuildError(RuntimeError):
    """A model could not be fetched, verified or built as pinned."""


class SourceError(BuildError):
    """A source wheel could not be fetched, or its model is not the one we pinned."""


class AccuracyError(BuildError):
    """A quantized model strays too far from fp32 on held-out photos; it was not written."""
