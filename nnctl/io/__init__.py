"""Files: YAML and JSON reading and writing, atomic writes, and the model file."""
