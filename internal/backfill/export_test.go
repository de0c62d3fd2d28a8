package backfill

// SetSnapshotHook sets a function ReadStream calls right after it has
// taken its snapshot of a stream, and returns a func that clears it. Not
// for parallel tests.
func SetSnapshotHook(f func()) (restore func()) {
	snapshotTaken = f
	return func() { snapshotTaken = nil }
}
