"""Data: the built-in sets, tables read from CSV, encoding of targets, splits and standardisation."""
