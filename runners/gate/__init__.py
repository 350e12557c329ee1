"""The gate stage of a Policy: its rules over evaluation and review results, pass or fail."""
