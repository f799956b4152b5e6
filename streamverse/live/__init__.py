"""Live state shared by the domains: who is connected, how busy each stream is, and the
coalescing of changes into events. Counted from real connections and real messages."""
