//go:build race

package consensus

// raceDetector reports whether the tests run with -race, which makes this
// process several times slower: timing claims are checked without it.
const raceDetector = true
