//go:build race

package services

// raceDetector is true in builds with -race, where exhaustive tests sample.
const raceDetector = true
