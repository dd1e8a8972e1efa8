//go:build cgo && cgoqueue && !purego

package queue

// Impl names the implementation behind [Queue] in this build.
const Impl = "cgo-c11"

type ringImpl = cRing

var newRing = newCRing
