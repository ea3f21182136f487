"""Private: the agent's start-up: configuration, plugins and import hooks, state, logging."""
