"""Reading spec files: located YAML, imports, binds and the tolerant dialect, into the model."""
