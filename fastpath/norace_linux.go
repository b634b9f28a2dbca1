//go:build !race

package fastpath

func raceAcquire(rawSocket) {}

func raceRelease(rawSocket) {}
