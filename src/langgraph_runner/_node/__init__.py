"""Node wrapping: create_node, node_factory, harden and one model or tool call. Private.

Modules::

    factory      create_node and node_factory (the engine's only caller besides testing)
    harden       harden: every node of a StateGraph builder or compiled graph, in one call
    calls        one model or tool call under create_node's engine (the pieces behind agents)
    agent_model  a hardened agent's model node ends the agent when its call fails for good
    async_path   a hardened node keeps the async implementation LangGraph's node had
    invalid_answer  a structured-output error passes through a hardened model node, as bare
"""
