//go:build !race

package consensus

// raceDetector: see race_test.go.
const raceDetector = false
