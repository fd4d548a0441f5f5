"""What can go wrong in the engine (importable without loading Rasa)."""


class EngineFailure(Exception):
    """The model or a custom action could not produce a reply; the message says which part failed."""


class EngineNotReady(EngineFailure):
    """The model is still loading."""
