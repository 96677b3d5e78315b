"""Node wrapping: create_node, node_factory, harden and the context a node sees. Private."""
