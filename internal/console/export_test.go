package console

// ParseLane is parseLane, for tests.
var ParseLane = parseLane
