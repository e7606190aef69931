"""Culture domain: Fleuret's grid-world quizzes, generated vectorized (tasks, paths, grids)."""
