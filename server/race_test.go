//go:build race

package server_test

// raceDetector is set when the tests run with -race, which instruments
// every memory access and so multiplies the cost of code paths unevenly.
const raceDetector = true
