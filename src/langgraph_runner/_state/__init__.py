"""The GraphState channels, their reducers and their pydantic/dataclass forms. Private."""
