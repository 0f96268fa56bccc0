"""The functional core: pure decisions on immutable data, the clock passed in."""
