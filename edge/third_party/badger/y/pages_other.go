//go:build !linux

package y

// DropPages is a no-op outside Linux (see pages_linux.go).
func DropPages(m []byte, off, end int) {}
