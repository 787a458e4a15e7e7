"""The plain alternatives TaskOverflow is measured against (issue 15)."""
