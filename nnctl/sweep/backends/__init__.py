"""Where sweep runs execute: a local process pool, or Ray tasks."""
