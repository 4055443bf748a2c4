"""The HTTP core shared by the lab's clients, origin and edge (socket-free)."""
