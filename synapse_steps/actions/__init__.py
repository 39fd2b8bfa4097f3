"""Actions: complete jobs built from steps (training today)."""
