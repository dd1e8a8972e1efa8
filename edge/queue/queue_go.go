//go:build !cgo || !cgoqueue || purego

package queue

// Impl names the implementation behind [Queue] in this build.
const Impl = "go"

type ringImpl = goRing

var newRing = newGoRing
