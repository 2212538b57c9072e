"""Authoring tools beside the runtime: OpenAPI import and export, capability scaffolding.

They read and write spec files; nothing in them serves requests. The CLI calls them; they call
down into spec, engine and adapters (for the exact served OpenAPI document), never into runtime.
"""
