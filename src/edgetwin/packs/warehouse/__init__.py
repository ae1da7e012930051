"""The warehouse twin: a tabletop high-bay warehouse, conveyor with an oven, and a vacuum robot."""
