"""The select stage of a sweep: the best trial's model becomes the FineTune's model."""
