"""The GraphState channels, their reducers and their pydantic/dataclass forms. Private.

Modules::

    channels   GraphState: the reducer channels wrapped nodes write to, update helpers
    models     the same channels for pydantic and dataclass states
    bounded    the bounded ``errors`` channel: the last N records and a count of the rest
    added      the record channels added to a state that had none (absent until written)
    typeddict  a TypedDict metaclass for states inheriting from typing and typing_extensions
"""
