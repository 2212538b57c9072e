"""The engine: a Plan resolved once at startup, and `Engine.invoke`, the only execution path."""
