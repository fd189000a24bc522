"""The life of a child as explicit states, one pure transition function, and a scheduler over policies."""
