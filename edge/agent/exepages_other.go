//go:build !linux

package agent

import "errors"

// dropExecutablePages is Linux only (exepages_linux.go).
func dropExecutablePages() (before, after int64, err error) {
	return 0, 0, errors.ErrUnsupported
}
