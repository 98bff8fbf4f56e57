"""Service periods as records, their outcomes, the signals that prevent waiting, and the
outcome report that shows where clients go without exposing anyone."""
